package buildinfo

import "runtime/debug"

// Unstamped is the version of a binary with no version information.
const Unstamped = "dev"

// Version is the version of the running binary: stamped when it was set
// at link time, else what the binary's build information says.
func Version(stamped string) string {
	if stamped != "" && stamped != Unstamped {
		return stamped
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Unstamped
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo is the version bi describes: the main module's version,
// else its VCS revision, else Unstamped.
func FromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return Unstamped
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
}
