package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mdtools/mdtools/lib/store"
)

// loadMD's fast path gives what store.LoadMD gives, and unknown fields
// (a newer mod_md's) still survive through the full decoder.
func TestLoadMDMatchesStore(t *testing.T) {
	t.Parallel()
	st, dir := openStore(t)
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "install", "staged-md.json"))
	if err != nil {
		t.Fatal(err)
	}
	var withExtra map[string]any
	_ = json.Unmarshal(sample, &withExtra)
	withExtra["future-field"] = map[string]any{"x": 1}
	extra, _ := json.Marshal(withExtra)
	for name, data := range map[string][]byte{"a1.test": sample, "b1.test": extra} {
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		m["name"] = name
		m["domains"] = []string{name}
		data, _ = json.Marshal(m)
		if err := os.MkdirAll(filepath.Join(dir, "domains", name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := st.Write(store.GroupDomains, name, store.FileMD, data); err != nil {
			t.Fatal(err)
		}
		got, err := loadMD(st, store.GroupDomains, name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := st.LoadMD(store.GroupDomains, name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: loadMD %+v\\nstore.LoadMD %+v", name, got, want)
		}
		if name == "b1.test" && got.Extra["future-field"] == nil {
			t.Errorf("unknown field lost")
		}
	}
}
