//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The floor plugin (e2e/floorplugin): the cheapest external plugin the same
// Vault SDK makes. Its creds path answers a fixed credential under a lease
// (the floor); its book path also makes the Vault round trips of the
// engine's bookkeeping, to tell their cost from the engine's code. The
// benchmarks mount it at floorMount beside the engine, so an engine figure
// and the floor's come from the same Vault in the same run.
const (
	floorName  = "vault-plugin-floor"
	floorMount = "floor"
)

// goBuild builds pkg (relative to the repository root) into dir/name with
// the extra go build flags, and returns the binary's path and SHA-256.
func goBuild(tb testing.TB, dir, name, pkg string, flags ...string) (string, string) {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("building %s: %v", pkg, err)
	}
	dst := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append(append([]string{"build", "-trimpath"}, flags...), "-o", dst, pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return dst, hex.EncodeToString(sum[:])
}

// enableFloor builds the floor plugin, registers it in v and mounts it at
// floorMount.
func enableFloor(tb testing.TB, v *vault) {
	tb.Helper()
	bin, sum := goBuild(tb, tb.TempDir(), floorName, "./e2e/floorplugin")
	copyFile(tb, bin, filepath.Join(v.pluginDir, floorName), 0o755)
	v.must("plugin", "register", "-sha256="+sum, "-command="+floorName, "secret", floorName)
	v.must("secrets", "enable", "-path="+floorMount, floorName)
}

// floorCreds reads floorMount/creds/<name>: a lease, as the engine's creds.
func (h *vaultHTTP) floorCreds(name string) (string, error) { return h.floorRead("creds", name) }

// floorBook reads floorMount/book/<name>: the floor plus the Vault round
// trips of the engine's bookkeeping (see e2e/floorplugin).
func (h *vaultHTTP) floorBook(name string) (string, error) { return h.floorRead("book", name) }

// floorBookWait is floorBook sleeping wait twice where the engine makes
// its two upstream calls.
func (h *vaultHTTP) floorBookWait(name string, wait time.Duration) (string, error) {
	return h.floorRead("book", fmt.Sprintf("%s?wait_ms=%d", name, wait.Milliseconds()))
}

func (h *vaultHTTP) floorRead(path, name string) (string, error) {
	var a vaultAnswer
	if err := h.call(http.MethodGet, floorMount+"/"+path+"/"+name, nil, &a); err != nil {
		return "", err
	}
	if a.LeaseID == "" {
		return "", fmt.Errorf("%s/%s/%s: no lease", floorMount, path, name)
	}
	return a.LeaseID, nil
}

// Profiles (BENCH_PPROF=dir): the engine plugin is a build with -tags pprof
// (cmd/vault-plugin-secrets-passwordsafe/pprof.go) serving net/http/pprof on
// a loopback port, and profile() takes CPU profiles of it and of Vault
// (sys/pprof/profile) over a phase of a benchmark, into dir.
var (
	pprofDir   = os.Getenv("BENCH_PPROF")
	pprofAddrs sync.Map // *vault -> its plugin's pprof address
)

// usePprofBuild swaps v's plugin binary for a pprof build and returns the
// register flags that turn its pprof listener on ("" when not profiling).
func usePprofBuild(tb testing.TB, v *vault) (sum string, env string) {
	tb.Helper()
	if pprofDir == "" {
		return pluginSum, ""
	}
	bin, sum := goBuild(tb, tb.TempDir(), pluginName, "./cmd/"+pluginName, "-tags", "pprof", "-ldflags", "-X main.version="+pluginVersion)
	copyFile(tb, bin, filepath.Join(v.pluginDir, pluginName), 0o755)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	pprofAddrs.Store(v, addr)
	return sum, "-env=PASSWORDSAFE_PPROF_ADDR=" + addr
}

// profile starts CPU profiles of the plugin and of Vault lasting d, written
// to pprofDir/<tag>-plugin.pprof and <tag>-vault.pprof, and goroutine dumps
// of both half way (<tag>-plugin-goroutines.txt, <tag>-vault-goroutines.txt);
// the returned func waits for them. A no-op unless BENCH_PPROF is set.
func profile(tb testing.TB, v *vault, tag string, d time.Duration) func() {
	a, ok := pprofAddrs.Load(v)
	if pprofDir == "" || !ok {
		return func() {}
	}
	addr := a.(string)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	var wg sync.WaitGroup
	get := func(url, token, file string) {
		defer wg.Done()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			tb.Error(err)
			return
		}
		if token != "" {
			req.Header.Set("X-Vault-Token", token)
		}
		resp, err := (&http.Client{Timeout: d + time.Minute}).Do(req)
		if err != nil {
			tb.Logf("profile %s: %v", file, err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			tb.Logf("profile %s: HTTP %d: %s", file, resp.StatusCode, truncate(string(b), 200))
			return
		}
		if err := os.WriteFile(filepath.Join(pprofDir, file), b, 0o644); err != nil {
			tb.Error(err)
		}
	}
	wg.Add(4)
	go get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), "", tag+"-plugin.pprof")
	// Goroutines in the middle of the phase: where the plugin and Vault wait.
	go func() {
		time.Sleep(d / 2)
		go get(fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", addr), "", tag+"-plugin-goroutines.txt")
		get(fmt.Sprintf("%s/v1/sys/pprof/goroutine?debug=1", v.addr), v.rootToken(), tag+"-vault-goroutines.txt")
	}()
	go get(fmt.Sprintf("%s/v1/sys/pprof/profile?seconds=%d", v.addr, secs), v.rootToken(), tag+"-vault.pprof")
	return wg.Wait
}
