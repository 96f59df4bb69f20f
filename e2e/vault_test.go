//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// vault is one Vault server process: dev mode, or a real server with file or
// raft storage that can be stopped and started again.
type vault struct {
	t         testing.TB
	name      string
	dir       string // everything of this server: config, plugins, data, log, HOME
	pluginDir string
	addr      string // http://127.0.0.1:port
	logPath   string
	args      []string

	mu    sync.Mutex
	token string // root token
	proc  *proc
	audit bool // a file audit device writes auditPath
}

// vaultOpts describe a server that is not in dev mode.
type vaultOpts struct {
	storage     string // "file" or "raft"
	nodeID      string
	apiPort     int
	clusterPort int
	joinAddrs   []string // raft retry_join leader_api_addr values
}

func newVaultDir(t testing.TB, name string) (dir, pluginDir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), name)
	pluginDir = filepath.Join(dir, "plugins")
	for _, d := range []string{dir, pluginDir, filepath.Join(dir, "home")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A copy per server: Vault runs plugins from its own plugin directory,
	// and the copy's path tells this server's plugin process apart from the
	// ones of parallel tests.
	copyFile(t, pluginBin, filepath.Join(pluginDir, pluginName), 0o755)
	return dir, pluginDir
}

// startDevVault starts `vault server -dev` with the plugin directory set and
// nothing registered yet.
func startDevVault(t testing.TB, name string) *vault {
	t.Helper()
	dir, pluginDir := newVaultDir(t, name)
	cfg := filepath.Join(dir, "vault.hcl")
	writeFile(t, cfg, fmt.Sprintf("plugin_directory = %q\n", pluginDir))
	token := "e2e-root-" + randomHex(t, 8)
	v := &vault{t: t, name: name, dir: dir, pluginDir: pluginDir, logPath: filepath.Join(dir, "vault.log"), token: token}
	t.Cleanup(func() { v.stop() })
	// A port found free can be taken by another process before Vault binds
	// it: start again on new ports when that happens.
	for attempt := 1; ; attempt++ {
		port := freePorts(t, 2) // dev mode listens for cluster traffic on port+1
		v.addr = fmt.Sprintf("http://127.0.0.1:%d", port)
		v.args = []string{"server", "-dev",
			"-dev-root-token-id=" + token,
			fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port),
			"-dev-no-store-token",
			"-config=" + cfg,
			"-log-level=trace",
		}
		v.start()
		if v.waitUp(60*time.Second) || attempt == 3 || !strings.Contains(tail(v.logPath, 20), "address already in use") {
			break
		}
		v.proc.killGroup()
		t.Logf("vault %s: port %d taken meanwhile, starting again", name, port)
	}
	v.waitReady(true)
	return v
}

// waitUp waits until the server answers sys/health or exits (false).
func (v *vault) waitUp(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v.proc.exited() {
			return false
		}
		if v.health() != 0 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newServerVault prepares (but does not start) a real server.
func newServerVault(t testing.TB, name string, o vaultOpts) *vault {
	t.Helper()
	dir, pluginDir := newVaultDir(t, name)
	if o.apiPort == 0 {
		o.apiPort = freePort(t)
	}
	if o.clusterPort == 0 {
		o.clusterPort = freePort(t)
	}
	if o.nodeID == "" {
		o.nodeID = name
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	var storage string
	switch o.storage {
	case "file":
		storage = fmt.Sprintf("storage \"file\" {\n  path = %q\n}\n", data)
	case "raft":
		var joins strings.Builder
		for _, a := range o.joinAddrs {
			fmt.Fprintf(&joins, "  retry_join {\n    leader_api_addr = %q\n  }\n", a)
		}
		storage = fmt.Sprintf("storage \"raft\" {\n  path = %q\n  node_id = %q\n  performance_multiplier = 1\n%s}\n", data, o.nodeID, joins.String())
	default:
		t.Fatalf("storage %q", o.storage)
	}
	cfg := filepath.Join(dir, "vault.hcl")
	writeFile(t, cfg, fmt.Sprintf(`disable_mlock = true
ui = false
plugin_directory = %q
api_addr = "http://127.0.0.1:%d"
cluster_addr = "https://127.0.0.1:%d"
listener "tcp" {
  address = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable = true
}
%s`, pluginDir, o.apiPort, o.clusterPort, o.apiPort, o.clusterPort, storage))
	v := &vault{
		t: t, name: name, dir: dir, pluginDir: pluginDir,
		addr:    fmt.Sprintf("http://127.0.0.1:%d", o.apiPort),
		logPath: filepath.Join(dir, "vault.log"),
		args:    []string{"server", "-config=" + cfg, "-log-level=trace"},
	}
	t.Cleanup(func() { v.stop() })
	return v
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (v *vault) start() {
	v.t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.proc = startProc(v.t, "vault "+v.name, v.logPath, baseEnv(filepath.Join(v.dir, "home")), vaultBin, v.args...)
}

// stop shuts the server down gracefully (plugins included).
func (v *vault) stop() {
	v.mu.Lock()
	p := v.proc
	v.mu.Unlock()
	if p != nil {
		p.stop(20 * time.Second)
	}
}

// kill is a crash: SIGKILL for the server and its plugin processes.
func (v *vault) kill() {
	v.mu.Lock()
	p := v.proc
	v.mu.Unlock()
	if p != nil {
		p.killGroup()
	}
}

func (v *vault) rootToken() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.token
}

func (v *vault) setRootToken(tok string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.token = tok
}

// health answers sys/health's status code (200 active, 429 standby, 501 not
// initialised, 503 sealed), or 0 when nothing answers.
func (v *vault) health() int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(v.addr + "/v1/sys/health")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady waits for the listener; active also waits for an unsealed active node.
func (v *vault) waitReady(active bool) {
	v.t.Helper()
	eventually(v.t, 60*time.Second, "vault "+v.name+" to answer", func() (bool, string) {
		if v.proc != nil && v.proc.exited() {
			v.t.Fatalf("vault %s exited: %v\n%s", v.name, v.proc.err, tail(v.logPath, 30))
		}
		code := v.health()
		if active {
			return code == 200, fmt.Sprintf("sys/health %d", code)
		}
		return code != 0, "no answer"
	})
}

// cliEnv is the environment for the vault CLI against this server.
func (v *vault) cliEnv(token string) []string {
	env := baseEnv(filepath.Join(v.dir, "home"))
	env = append(env, "VAULT_ADDR="+v.addr)
	if token != "" {
		env = append(env, "VAULT_TOKEN="+token)
	}
	return env
}

// cli runs the vault CLI as root; cliAs with another token.
func (v *vault) cli(args ...string) (string, error) { return v.cliAs(v.rootToken(), args...) }

func (v *vault) cliAs(token string, args ...string) (string, error) {
	return run(context.Background(), v.cliEnv(token), vaultBin, args...)
}

// must runs the CLI as root and fails the test on error.
func (v *vault) must(args ...string) string {
	v.t.Helper()
	out, err := v.cli(args...)
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

// jsonAs runs `vault <cmd...> -format=json <args...>` and decodes the answer.
// cmd is the subcommand words (for example "read" or "lease", "renew").
func (v *vault) jsonAs(token string, out any, cmd []string, args ...string) error {
	all := append(append(append([]string{}, cmd...), "-format=json"), args...)
	s, err := v.cliAs(token, all...)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		return fmt.Errorf("vault %s: decoding %q: %w", strings.Join(cmd, " "), truncate(s, 300), err)
	}
	return nil
}

func (v *vault) mustJSON(out any, cmd []string, args ...string) {
	v.t.Helper()
	if err := v.jsonAs(v.rootToken(), out, cmd, args...); err != nil {
		v.t.Fatal(err)
	}
}

// initUnseal initialises a fresh server with one key share and unseals it.
func (v *vault) initUnseal() (unsealKey string) {
	v.t.Helper()
	var init struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
	}
	if err := v.jsonAs("", &init, []string{"operator", "init"}, "-key-shares=1", "-key-threshold=1"); err != nil {
		v.t.Fatal(err)
	}
	v.setRootToken(init.RootToken)
	v.unseal(init.Keys[0])
	return init.Keys[0]
}

func (v *vault) unseal(key string) {
	v.t.Helper()
	if _, err := v.cliAs("", "operator", "unseal", key); err != nil {
		v.t.Fatal(err)
	}
}

// pluginSHA256 is the SHA-256 of the plugin binary, as `vault plugin register` wants it.
func pluginSHA256(t testing.TB) string { return pluginSum }

// enableAudit turns on a file audit device. Vault HMACs request and
// response values in it, but not error messages or warnings: the log scan
// reads it to catch a secret in those.
func (v *vault) enableAudit() {
	v.t.Helper()
	v.must("audit", "enable", "file", "file_path="+v.auditPath())
	v.audit = true
}

func (v *vault) auditPath() string { return filepath.Join(v.dir, "audit.log") }

// registerPlugin registers the plugin by SHA-256 and version, as operators
// do; extra flags (-env=K=V) go before the type.
func (v *vault) registerPlugin(extra ...string) {
	v.t.Helper()
	args := append([]string{"plugin", "register", "-sha256=" + pluginSHA256(v.t), "-version=" + pluginVersion}, extra...)
	v.must(append(args, "secret", pluginName)...)
}

// enable mounts the plugin at path; extra flags (-options=K=V) go before
// the plugin name.
func (v *vault) enable(path string, extra ...string) {
	v.t.Helper()
	args := append([]string{"secrets", "enable", "-path=" + path, "-plugin-version=" + pluginVersion}, extra...)
	v.must(append(args, pluginName)...)
}

// pluginPIDs are the plugin processes of this server (its own plugin copy).
func (v *vault) pluginPIDs() []int { return v.pluginPIDsOf(pluginName) }

// pluginPIDsOf are this server's processes of one plugin file: those whose
// argv[0] is that file in the server's plugin directory.
func (v *vault) pluginPIDsOf(command string) []int {
	want := filepath.Join(v.pluginDir, command)
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(b), "\x00")
		if argv0 == want && !isZombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
