//go:build pprof

package main

// Profiling for the benchmarks (scripts/bench.sh, e2e/bench_prof_test.go):
// a build with -tags pprof serves net/http/pprof on the loopback address in
// PASSWORDSAFE_PPROF_ADDR (Vault passes it with `vault plugin register
// -env=...`), so a benchmark can take a CPU profile of the plugin process
// while it drives Vault. Release builds never contain this file.

import (
	"net/http"
	_ "net/http/pprof" //nolint:gosec // loopback, test builds only
	"os"
	"strings"
)

func init() {
	addr := os.Getenv("PASSWORDSAFE_PPROF_ADDR")
	if addr == "" || !strings.HasPrefix(addr, "127.0.0.1:") {
		return
	}
	go func() { _ = http.ListenAndServe(addr, nil) }() //nolint:gosec // loopback, test builds only
}
