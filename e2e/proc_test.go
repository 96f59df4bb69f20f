//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries the suite drives, found relative to the package directory (go test
// runs a package's tests in its own directory).
var (
	repoRoot      string
	vaultBin      string
	pluginBin     string
	pluginName    = "vault-plugin-secrets-passwordsafe"
	pluginVersion = envOr("E2E_PLUGIN_VERSION", "v0.1.0")
	pluginSum     string // SHA-256 of pluginBin, hex
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	// The tests mostly wait (for TTLs, elections, the rollback tick), not
	// compute: run them all at once unless -parallel says otherwise.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "16")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	repoRoot = root
	vaultBin = filepath.Join(root, "bin", "vault")
	pluginBin = filepath.Join(root, "bin", pluginName)
	// A missing binary is a failure, never a skip: a suite that skips
	// itself proves nothing.
	missing := false
	for _, b := range []struct{ path, make string }{
		{vaultBin, "make vault"},
		{pluginBin, "make build"},
	} {
		if st, err := os.Stat(b.path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			fmt.Fprintf(os.Stderr, "e2e: %s is missing or not executable: run `%s` first (or `make e2e`, which builds everything it needs)\n", b.path, b.make)
			missing = true
		}
	}
	if missing {
		os.Exit(1)
	}
	warnIfStale()
	// One snapshot of the plugin for the whole run: a `make build` while the
	// suite runs must not change the binary under a registered SHA-256.
	snap, err := os.MkdirTemp("", "e2e-plugin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	if err := snapshotPlugin(filepath.Join(snap, pluginName)); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	code := m.Run()
	killAllGroups()
	os.RemoveAll(snap)
	if upgradeDir != "" {
		os.RemoveAll(upgradeDir)
	}
	os.Exit(code)
}

// snapshotPlugin copies the plugin binary to dst and points pluginBin and
// pluginSum at the copy.
func snapshotPlugin(dst string) error {
	b, err := os.ReadFile(pluginBin)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	pluginBin, pluginSum = dst, hex.EncodeToString(sum[:])
	return nil
}

// warnIfStale tells when the plugin binary is older than the sources it is
// built from: `go test -tags e2e ./e2e/...` run by hand does not rebuild it.
func warnIfStale() {
	st, err := os.Stat(pluginBin)
	if err != nil {
		return
	}
	var newest string
	for _, dir := range []string{"backend", "paths", "client", "cmd/" + pluginName} {
		_ = filepath.WalkDir(filepath.Join(repoRoot, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			if fi, err := d.Info(); err == nil && fi.ModTime().After(st.ModTime()) {
				newest = p
			}
			return nil
		})
	}
	if newest != "" {
		fmt.Fprintf(os.Stderr, "e2e: warning: %s is newer than %s: run `make build` (make e2e does)\n", newest, pluginBin)
	}
}

// Process groups started by the suite, killed at the end whatever happened
// (a plugin process outlives a SIGKILLed Vault otherwise).
var (
	groupsMu sync.Mutex
	groups   = map[int]bool{}
)

func killAllGroups() {
	groupsMu.Lock()
	defer groupsMu.Unlock()
	for pgid := range groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// proc is one long-running child process (a Vault server or agent) with its
// output in a log file and in its own process group, so stopping it stops the
// plugin processes it started too.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func startProc(t testing.TB, name, logPath string, env []string, bin string, args ...string) *proc {
	t.Helper()
	// Append: a restarted server keeps one log, scanned as a whole.
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("%s: log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	groupsMu.Lock()
	groups[cmd.Process.Pid] = true
	groupsMu.Unlock()
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down (SIGTERM), waits up to grace, then
// kills the whole group, stragglers included.
func (p *proc) stop(grace time.Duration) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	p.killGroup()
}

// killGroup is SIGKILL for the process and everything it started.
func (p *proc) killGroup() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	groupsMu.Lock()
	delete(groups, p.pid())
	groupsMu.Unlock()
}

// Ports: the kernel hands out a free one; a process-wide set keeps parallel
// tests from being handed the same one twice before they bind it.
var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

func freePort(t testing.TB) int {
	t.Helper()
	return freePorts(t, 1)
}

// freePorts returns p such that p .. p+n-1 are all free (Vault's dev mode
// puts its cluster listener on the API port + 1).
func freePorts(t testing.TB, n int) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for attempt := 0; attempt < 200; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		ok := !ports[p]
		var extra []net.Listener
		for i := 1; ok && i < n; i++ {
			if ports[p+i] || p+i > 65535 {
				ok = false
				break
			}
			l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+i))
			if err != nil {
				ok = false
				break
			}
			extra = append(extra, l2)
		}
		l.Close()
		for _, l2 := range extra {
			l2.Close()
		}
		if ok {
			for i := 0; i < n; i++ {
				ports[p+i] = true
			}
			return p
		}
	}
	t.Fatalf("no %d consecutive free ports on 127.0.0.1", n)
	return 0
}

// eventually polls cond until it holds or timeout passes; cond returns a
// description of what it is still waiting for.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("after %s still waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// run executes a short command with a timeout and returns stdout; the error
// carries stderr.
func run(ctx context.Context, env []string, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stdout.String(), fmt.Errorf("%s %s: exit %d: %s", filepath.Base(bin), strings.Join(redactArgs(args), " "), ee.ExitCode(), strings.TrimSpace(stderr.String()+"\n"+stdout.String()))
		}
		return stdout.String(), fmt.Errorf("%s %s: %w", filepath.Base(bin), strings.Join(redactArgs(args), " "), err)
	}
	return stdout.String(), nil
}

// redactArgs keeps secrets passed as key=value out of failure messages.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		k, _, ok := strings.Cut(a, "=")
		switch {
		case ok && (strings.Contains(k, "key") || strings.Contains(k, "password") || strings.Contains(k, "secret")) && !strings.HasPrefix(k, "-"):
			out[i] = k + "=<redacted>"
		default:
			out[i] = a
		}
	}
	return out
}

// baseEnv is the test process's environment without any VAULT_* variable, so
// a developer's own Vault settings never leak into the suite.
func baseEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatalf("copy to %s: %v", dst, err)
	}
}

// isZombie tells a dead process its parent has not reaped yet.
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces, so look after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}
