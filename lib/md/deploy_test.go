package md

import (
	"strings"
	"testing"
)

func TestDeployPerms(t *testing.T) {
	tests := []struct {
		name    string
		d       *Deploy
		want    DeployPerms
		wantErr string
	}{
		{"nil is the defaults", nil, DeployPerms{UID: -1, GID: -1, Mode: 0o644, KeyMode: 0o600}, ""},
		{"modes", &Deploy{Mode: "0640", KeyMode: "0440"}, DeployPerms{UID: -1, GID: -1, Mode: 0o640, KeyMode: 0o440}, ""},
		{"root by name", &Deploy{Owner: "root", Group: "root"}, DeployPerms{UID: 0, GID: 0, Mode: 0o644, KeyMode: 0o600}, ""},
		{"mode not octal", &Deploy{Mode: "0648"}, DeployPerms{}, `deploy mode "0648" is not an octal file mode`},
		{"key mode too large", &Deploy{KeyMode: "01777"}, DeployPerms{}, `deploy key-mode "01777" is not an octal file mode`},
		{"unknown owner", &Deploy{Owner: "no-such-user-mdtools"}, DeployPerms{}, `deploy owner "no-such-user-mdtools"`},
		{"unknown group", &Deploy{Group: "no-such-group-mdtools"}, DeployPerms{}, `deploy group "no-such-group-mdtools"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.d.Perms()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Perms() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
