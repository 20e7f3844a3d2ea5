package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionFrom(t *testing.T) {
	vcs := func(rev, modified, time string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: time}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "7e5c93f0e6150de1d7d411567c14b4e3417ba29b"
	for _, tc := range []struct {
		name     string
		info     *debug.BuildInfo
		override string
		want     buildVersion
	}{
		{"no build info", nil, "", buildVersion{Version: "devel", Commit: "unknown", Date: "unknown", Go: runtime.Version()}},
		{"local build without VCS", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, "",
			buildVersion{Version: "devel", Commit: "unknown", Date: "unknown", Go: "go1.26.0"}},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}}, "",
			buildVersion{Version: "v1.2.3", Commit: "unknown", Date: "unknown", Go: "go1.26.0"}},
		{"clean checkout", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: vcs(rev, "false", "2026-11-29T03:26:00Z")}, "",
			buildVersion{Version: "devel", Commit: "7e5c93f0e615", Date: "2026-11-29T03:26:00Z", Go: "go1.26.0"}},
		{"dirty checkout", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261129032600-7e5c93f0e615+dirty"},
			Settings: vcs(rev, "true", "2026-11-29T03:26:00Z")}, "",
			buildVersion{Version: "v0.0.0-20261129032600-7e5c93f0e615+dirty", Commit: "7e5c93f0e615+dirty", Date: "2026-11-29T03:26:00Z", Go: "go1.26.0"}},
		{"packaging override", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: vcs(rev, "false", "2026-11-29T03:26:00Z")}, "0.0.0~git20261129.7e5c93f",
			buildVersion{Version: "0.0.0~git20261129.7e5c93f", Commit: "7e5c93f0e615", Date: "2026-11-29T03:26:00Z", Go: "go1.26.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got := versionFrom(tc.info, tc.override); got != tc.want {
				t.Errorf("versionFrom = %+v, want %+v", got, tc.want)
			}
		})
	}
}
