package md

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

// DecodeMD's one-pass path gives what the full decoder gives; unknown fields
// (a newer mod_md's) survive through the full decoder; junk after the
// object, null and a bad field are refused as the full decoder refuses them.
func TestDecodeMD(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "install", "staged-md.json"))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(sample, &obj); err != nil {
		t.Fatal(err)
	}
	obj["future-field"] = map[string]any{"x": 1}
	withExtra, _ := json.Marshal(obj)
	for name, data := range map[string][]byte{"known": sample, "extra": withExtra} {
		got, err := DecodeMD(data)
		if err != nil {
			t.Fatal(err)
		}
		var want MD
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: DecodeMD %+v\nUnmarshalJSON %+v", name, *got, want)
		}
		if name == "extra" && got.Extra["future-field"] == nil {
			t.Errorf("unknown field lost")
		}
	}
	for _, bad := range []string{"null", string(sample) + "]", `{"state": "x"}`, ""} {
		if _, err := DecodeMD([]byte(bad)); err == nil {
			t.Errorf("DecodeMD(%.40q) = nil error", bad)
		}
	}
	if _, err := DecodeMD([]byte(`{"renew-mode": "x"}`)); err == nil || !strings.Contains(err.Error(), "renew-mode") {
		t.Errorf("error does not name the field: %v", err)
	}
}
