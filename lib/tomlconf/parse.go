package tomlconf

import "github.com/mdtools/mdtools/lib/md"

// Parse reads md.toml text as Load reads the file: name is what messages
// and the records' source call it, dir the directory relative paths are
// taken against. md-parse import reads back the md.toml it writes with it.
func Parse(name, dir string, data []byte) (*md.ParsedConfig, error) {
	return parse(name, dir, data, nil)
}
