package md

import (
	"reflect"
	"testing"
)

func TestApplyDefaults(t *testing.T) {
	w := func(s string) *Timeslice { ts := MustTimeslice(s); return &ts }
	tests := []struct {
		name string
		in   MD
		want MD
	}{
		{"empty", MD{RenewMode: RenewAuto},
			MD{CA: &CA{Proto: ProtoACME, URLs: []string{DefaultCA}}, RenewMode: RenewAuto,
				RenewWindow: w("33%"), WarnWindow: w("10%"), Contacts: []string{}}},
		{"kept", MD{CA: &CA{Proto: "X", URLs: []string{"https://ca"}}, RenewMode: RenewAlways,
			RenewWindow: w("20d"), WarnWindow: w("5d"), Contacts: []string{"mailto:a@b"}, CertFiles: []string{"c"}},
			MD{CA: &CA{Proto: "X", URLs: []string{"https://ca"}}, RenewMode: RenewAlways,
				RenewWindow: w("20d"), WarnWindow: w("5d"), Contacts: []string{"mailto:a@b"}, CertFiles: []string{"c"}}},
		{"static auto becomes manual", MD{RenewMode: RenewAuto, CertFiles: []string{"c"}},
			MD{CA: &CA{Proto: ProtoACME, URLs: []string{DefaultCA}}, RenewMode: RenewManual,
				RenewWindow: w("33%"), WarnWindow: w("10%"), Contacts: []string{}, CertFiles: []string{"c"}}},
	}
	for _, tc := range tests {
		got := tc.in
		got.ApplyDefaults()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	var nilMD *MD
	if nilMD.EffectiveRenewWindow() != MustTimeslice(DefaultRenewWindow) || nilMD.EffectiveWarnWindow() != MustTimeslice(DefaultWarnWindow) {
		t.Error("a nil MD must give the default windows")
	}
}

func TestSchemify(t *testing.T) {
	for in, want := range map[string]string{
		"a@b.example":        "mailto:a@b.example",
		"mailto:a@b.example": "mailto:a@b.example",
		"tel:+1":             "tel:+1",
		"a.b:c":              "mailto:a.b:c",
	} {
		if got := Schemify(in, "mailto"); got != want {
			t.Errorf("Schemify(%q) = %q, want %q", in, got, want)
		}
	}
}
