package challenge

import (
	"strings"
	"testing"
	"time"
)

func TestPersistRecords(t *testing.T) {
	until := time.Unix(1900000000, 0)
	recs := PersistRecords([]string{"a.test", "*.a.test", "www.b.test", "192.0.2.1", "*.c.test"}, "ca.example", "https://ca.example/acct/1", time.Time{})
	var got []string
	for _, r := range recs {
		got = append(got, r.ZoneLine(PersistTTL))
	}
	want := []string{
		`_validation-persist.a.test. 3600 IN TXT "ca.example; accounturi=https://ca.example/acct/1; policy=wildcard"`,
		`_validation-persist.www.b.test. 3600 IN TXT "ca.example; accounturi=https://ca.example/acct/1"`,
		`_validation-persist.c.test. 3600 IN TXT "ca.example; accounturi=https://ca.example/acct/1; policy=wildcard"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := NewPersistRecord("a.test", "ca.example", "https://ca.example/acct/1", until).Value(); !strings.HasSuffix(v, "; persistUntil=1900000000") {
		t.Errorf("value with persistUntil: %q", v)
	}
}

func TestPersistMatch(t *testing.T) {
	now := time.Unix(1800000000, 0)
	r := NewPersistRecord("*.a.test", "ca.example", "https://ca.example/acct/1", time.Time{})
	for _, tc := range []struct {
		values []string
		want   string // "" = match
	}{
		{[]string{"ca.example; accounturi=https://ca.example/acct/1; policy=wildcard"}, ""},
		{[]string{"other.example; accounturi=x", "CA.example ; AccountURI=https://ca.example/acct/1 ; Policy=Wildcard"}, ""},
		{nil, "no TXT record at _validation-persist.a.test."},
		{[]string{"other.example; accounturi=https://ca.example/acct/1"}, "names issuer ca.example"},
		{[]string{"ca.example; accounturi=https://ca.example/acct/2; policy=wildcard"}, "names another account"},
		{[]string{"ca.example; accounturi=https://ca.example/acct/1"}, "lacks policy=wildcard"},
		{[]string{"ca.example; accounturi=https://ca.example/acct/1; policy=wildcard; persistUntil=1700000000"}, "expired"},
		{[]string{"ca.example; policy=wildcard"}, "has no accounturi"},
		{[]string{"ca.example; accounturi"}, "malformed parameter"},
	} {
		err := r.Match(tc.values, now)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Match(%q) = %v; want %q", tc.values, err, tc.want)
		}
	}
	if err := NewPersistRecord("192.0.2.1", "ca.example", "https://ca.example/acct/1", time.Time{}).Validate(); err == nil {
		t.Error("a record for an IP address validated")
	}
}
