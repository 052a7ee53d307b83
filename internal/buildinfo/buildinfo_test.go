package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}, Settings: setting("vcs.revision", "0123456789abcdef")}, "v0.1.0"},
		{"revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: setting("vcs.revision", "0123456789abcdef", "vcs.modified", "false")}, "0123456789ab"},
		{"dirty revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: setting("vcs.revision", "0123456789abcdef", "vcs.modified", "true")}, "0123456789ab-dirty"},
		{"nothing", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, Unstamped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, FromBuildInfo(&tc.bi))
		})
	}
	require.Equal(t, "v9.9.9", Version("v9.9.9"), "a stamped version wins")
	require.NotEmpty(t, Version(Unstamped))
}
