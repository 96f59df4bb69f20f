//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// The upgrade tests run two builds of the plugin side by side in one plugin
// directory, as an operator does during an upgrade: the suite's binary
// (pluginBin, E2E_PLUGIN_VERSION, v0.1.0 by default) under its plain name,
// and a second build under <name>-<version>. The second build is made by
// the test from this source tree with another version stamped in
// (E2E_UPGRADE_VERSION, default v0.2.0), unless E2E_UPGRADE_BIN names a
// binary to use instead (an older or newer release, say), which must report
// E2E_UPGRADE_VERSION.
var (
	upgradeVersion = envOr("E2E_UPGRADE_VERSION", "v0.2.0")

	upgradeOnce sync.Once
	upgradeDir  string // holds upgradeBin; TestMain removes it
	upgradeBin  string // the second build (a snapshot, like pluginBin)
	upgradeSum  string // its SHA-256, hex
	upgradeErr  error
)

// pluginBuild is one registered build of the plugin: its version, the file
// name in the plugin directory (-command) and its SHA-256.
type pluginBuild struct {
	version string
	command string
	sha256  string
	src     string // the binary copied into each server's plugin directory
}

func baseBuild() pluginBuild {
	return pluginBuild{version: pluginVersion, command: pluginName, sha256: pluginSum, src: pluginBin}
}

// nextBuild builds (once per test run) the plugin with upgradeVersion
// stamped in, as `make VERSION=... build` would.
func nextBuild(t *testing.T) pluginBuild {
	t.Helper()
	if upgradeVersion == pluginVersion {
		t.Fatalf("E2E_UPGRADE_VERSION (%s) must differ from E2E_PLUGIN_VERSION (%s)", upgradeVersion, pluginVersion)
	}
	upgradeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-plugin-next-")
		if err != nil {
			upgradeErr = err
			return
		}
		upgradeDir = dir
		dst := filepath.Join(dir, pluginName+"-"+upgradeVersion)
		if src := os.Getenv("E2E_UPGRADE_BIN"); src != "" {
			b, err := os.ReadFile(src)
			if err == nil {
				err = os.WriteFile(dst, b, 0o755)
			}
			if err != nil {
				upgradeErr = fmt.Errorf("E2E_UPGRADE_BIN: %w", err)
				return
			}
		} else {
			goBin, err := exec.LookPath("go")
			if err != nil {
				upgradeErr = fmt.Errorf("building the %s plugin: %w", upgradeVersion, err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath",
				"-ldflags", "-X main.version="+upgradeVersion,
				"-o", dst, "./cmd/"+pluginName)
			cmd.Dir = repoRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				upgradeErr = fmt.Errorf("go build of the %s plugin: %v\n%s", upgradeVersion, err, out)
				return
			}
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			upgradeErr = err
			return
		}
		sum := sha256.Sum256(b)
		upgradeBin, upgradeSum = dst, hex.EncodeToString(sum[:])
	})
	if upgradeErr != nil {
		t.Fatal(upgradeErr)
	}
	if upgradeSum == pluginSum {
		t.Fatalf("the %s build is byte for byte the %s build: nothing would change", upgradeVersion, pluginVersion)
	}
	return pluginBuild{version: upgradeVersion, command: pluginName + "-" + upgradeVersion, sha256: upgradeSum, src: upgradeBin}
}

// install copies b into the server's plugin directory (step 1 of the
// runbook, on every node).
func (v *vault) install(b pluginBuild) {
	v.t.Helper()
	dst := filepath.Join(v.pluginDir, b.command)
	if _, err := os.Stat(dst); err == nil {
		return
	}
	copyFile(v.t, b.src, dst, 0o755)
}

// registerBuild registers b in the catalog under the plugin's name with its
// version, SHA-256 and command (step 2 of the runbook, once per cluster).
func (v *vault) registerBuild(b pluginBuild) {
	v.t.Helper()
	v.must("plugin", "register", "-sha256="+b.sha256, "-version="+b.version, "-command="+b.command, "secret", pluginName)
}

// switchTo is the runbook's tune and reload, then checks that the mount now
// runs b: sys/mounts says so (version and SHA-256), and the plugin process
// serving it is b's binary, not the other one.
// reload is the reload command's extra flags (-scope=global in a cluster).
func (v *vault) switchTo(b, old pluginBuild, reload ...string) {
	v.t.Helper()
	v.must("secrets", "tune", "-plugin-version="+b.version, mount)
	// Tuned but not reloaded: the configured version changes, the running
	// one not yet.
	if m := v.mountInfo(mount); m.PluginVersion != b.version || m.RunningPluginVersion != old.version {
		v.t.Fatalf("after tune, before reload: %+v; want plugin_version %s, still running %s", m, b.version, old.version)
	}
	v.must(append([]string{"plugin", "reload", "-type=secret", "-plugin=" + pluginName}, reload...)...)
	v.checkRunning(b, old)
}

// checkRunning checks that the mount runs b and no process of old is left.
func (v *vault) checkRunning(b, old pluginBuild) {
	v.t.Helper()
	eventually(v.t, 30*time.Second, "the mount to run "+b.version, func() (bool, string) {
		m := v.mountInfo(mount)
		return m.PluginVersion == b.version && m.RunningPluginVersion == b.version && m.RunningSHA256 == b.sha256,
			fmt.Sprintf("%+v", m)
	})
	// A request to the mount starts the plugin if the reload did not (its
	// answer does not matter: there may be no config yet).
	_, _ = v.cli("list", mount+"/roles")
	eventually(v.t, 30*time.Second, "only "+b.command+" processes", func() (bool, string) {
		now, before := v.pluginPIDsOf(b.command), v.pluginPIDsOf(old.command)
		return len(now) > 0 && len(before) == 0, fmt.Sprintf("%s: %v, %s: %v", b.command, now, old.command, before)
	})
}

type mountInfo struct {
	Type                 string `json:"type"`
	PluginVersion        string `json:"plugin_version"`
	RunningPluginVersion string `json:"running_plugin_version"`
	RunningSHA256        string `json:"running_sha256"`
}

func (v *vault) mountInfo(path string) mountInfo {
	v.t.Helper()
	var mounts map[string]mountInfo
	v.mustJSON(&mounts, []string{"secrets", "list"}, "-detailed")
	m, ok := mounts[path+"/"]
	if !ok {
		v.t.Fatalf("no mount %s/ in secrets list", path)
	}
	return m
}

// --- the leases that cross a version change ---------------------------------

// upgradeRoles: an exclusive account with conflict_option=none, a reuse role
// (two leases on one request) and the approval-gated account.
func (e *env) upgradeRoles() {
	e.t.Helper()
	e.writeRole("excl", "system_name=db-prod-01", "account_name=app_user", "conflict_option=none", "ttl=10m", "max_ttl=1h")
	e.writeRole("shared", "system_name=web-01", "account_name=deploy", "conflict_option=reuse", "ttl=10m", "max_ttl=1h")
	e.writeRole("fin", "system_name=fin-db-01", "account_name=sa", "ttl=10m", "max_ttl=1h")
}

// crossing is what one version leaves to the next: three leases on two
// requests and one request waiting for approval.
type crossing struct {
	made    string // the version they were made under
	excl    secret
	shared  [2]secret
	pending int // request ID, pending in Password Safe
}

// takeLeases makes a crossing under the running version.
func (e *env) takeLeases(version string) crossing {
	e.t.Helper()
	c := crossing{made: version}
	c.excl = e.creds("", "excl")
	if r, _ := e.sim.Inspect().Request(e.requestOf(c.excl.LeaseID)); r.AccountID != 12 || r.Status != pstest.StatusActive {
		e.t.Fatalf("excl lease made under %s: request %+v", version, r)
	}
	c.shared[0] = e.creds("", "shared")
	c.shared[1] = e.creds("", "shared")
	if a, b := e.requestOf(c.shared[0].LeaseID), e.requestOf(c.shared[1].LeaseID); a != b {
		e.t.Fatalf("the two reuse leases made under %s hold requests %d and %d, want one", version, a, b)
	}
	// The exclusive account is held: a second checkout is a conflict.
	if _, err := e.tryCreds(e.vault(), "", "excl"); err == nil || !strings.Contains(err.Error(), "409") && !strings.Contains(strings.ToLower(err.Error()), "conflict") {
		e.t.Fatalf("a second checkout of excl under %s: want a conflict, got %v", version, err)
	}
	c.pending = e.requestPending("fin")
	return c
}

// requestPending makes a request for an approval-gated role without waiting
// (`vault write passwordsafe/requests role=...`) and returns its ID.
func (e *env) requestPending(role string) int {
	e.t.Helper()
	var out secret
	e.vault().mustJSON(&out, []string{"write"}, mount+"/requests", "role="+role, "reason=e2e upgrade")
	id := requestIDOf(out.Data)
	if id == 0 || out.Data["status"] != "pending" {
		e.t.Fatalf("requests write for %s: %+v", role, out)
	}
	if r, _ := e.sim.Inspect().Request(id); r.Status != pstest.StatusPending {
		e.t.Fatalf("request %d: %+v, want pending", id, r)
	}
	return id
}

// approveAsBob approves a request in Password Safe as the approver bob
// (as in its web UI: the engine's run_as may not approve).
func (e *env) approveAsBob(id int) {
	e.t.Helper()
	c, err := client.New(client.Config{BaseURL: e.sim.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserBob, Password: pstest.DemoPasswordBob})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	defer func() { _ = c.SignOut(ctx) }()
	if err := c.Approve(ctx, id, "e2e upgrade"); err != nil {
		e.t.Fatalf("approve %d as bob: %v", id, err)
	}
	e.waitStatus(id, pstest.StatusActive, 5*time.Second)
}

// claim reads requests/<id>/creds (the credential of an approved request)
// and remembers the lease like creds does.
func (e *env) claim(id int) secret {
	e.t.Helper()
	var s secret
	e.vault().mustJSON(&s, []string{"read"}, fmt.Sprintf("%s/requests/%d/creds", mount, id))
	e.noteSecrets(s.Data, fmt.Sprintf("credential of request %d", id))
	if s.LeaseID == "" || !s.Renewable {
		e.t.Fatalf("claim of request %d: no renewable lease (warnings %v)", id, s.Warnings)
	}
	if s.Data["password"] != e.sim.Inspect().Password(31) {
		e.t.Fatalf("claim of request %d: not account 31's current password", id)
	}
	e.mu.Lock()
	e.leaseReq[s.LeaseID] = id
	e.mu.Unlock()
	return s
}

// renew renews a lease and checks the answer is sane: renewable, longer
// than what was left of the 10m ttl just now, never past max_ttl (1h).
func (e *env) renew(s secret, what string) {
	e.t.Helper()
	var r secret
	e.vault().mustJSON(&r, []string{"lease", "renew"}, "-increment=20m", s.LeaseID)
	if r.LeaseID != s.LeaseID || !r.Renewable || r.LeaseDuration < 19*60 || r.LeaseDuration > 20*60 {
		e.t.Fatalf("renew of %s (%s): lease %s duration %ds renewable %v; want about 1200s", what, s.LeaseID, r.LeaseID, r.LeaseDuration, r.Renewable)
	}
	e.waitStatus(e.requestOf(s.LeaseID), pstest.StatusActive, time.Second)
}

func (e *env) revoke(s secret) {
	e.t.Helper()
	e.vault().must("lease", "revoke", s.LeaseID)
}

// afterSwitch is everything a crossing must still do under the new
// version: every lease renews; the pending request, approved now, is
// claimed; revocations check the requests in (the shared one only with its
// last lease); and at the end nothing is active or pending upstream.
func (e *env) afterSwitch(c crossing, now string) {
	e.t.Helper()
	what := func(s string) string { return s + " made under " + c.made + ", now " + now }
	e.renew(c.excl, what("excl"))
	e.renew(c.shared[0], what("shared[0]"))
	e.renew(c.shared[1], what("shared[1]"))

	// The pending request is still the engine's: approved now, it can be
	// claimed (by the token that made it) under the new version.
	e.waitStatus(c.pending, pstest.StatusPending, time.Second)
	e.approveAsBob(c.pending)
	claimed := e.claim(c.pending)
	e.renew(claimed, what("claimed request"))

	e.revoke(c.excl)
	e.waitStatus(e.requestOf(c.excl.LeaseID), pstest.StatusCheckedIn, 10*time.Second)
	shared := e.requestOf(c.shared[0].LeaseID)
	e.revoke(c.shared[0])
	// One hold left: the request must stay active.
	time.Sleep(time.Second)
	e.waitStatus(shared, pstest.StatusActive, time.Second)
	e.renew(c.shared[1], what("shared[1] after shared[0]'s revoke"))
	e.revoke(c.shared[1])
	e.waitStatus(shared, pstest.StatusCheckedIn, 10*time.Second)
	e.revoke(claimed)
	e.waitStatus(c.pending, pstest.StatusCheckedIn, 10*time.Second)
	e.noOpenRequests(now)
}

// noOpenRequests: no request is active or pending in Password Safe, and
// Vault holds no lease of the mount.
func (e *env) noOpenRequests(when string) {
	e.t.Helper()
	var open []string
	for _, r := range e.sim.Inspect().Requests() {
		if r.Status == pstest.StatusActive || r.Status == pstest.StatusPending {
			open = append(open, fmt.Sprintf("%d %s", r.ID, r.Status))
		}
	}
	sort.Strings(open)
	if len(open) > 0 {
		e.t.Fatalf("under %s, with every lease revoked, requests still open in Password Safe: %v", when, open)
	}
	live, err := e.vault().liveLeases(mount + "/")
	if err != nil {
		e.t.Fatal(err)
	}
	if len(live) > 0 {
		e.t.Fatalf("under %s, every lease revoked, Vault still lists %v", when, live)
	}
}

// TestUpgradeAndDowngrade follows the README's upgrade runbook on a dev
// server: leases and a pending approval made under the suite's version
// (v0.1.0) cross an upgrade to a second build (v0.2.0: register with its
// SHA-256 and version, tune the mount, reload), and the ones made under
// v0.2.0 cross the downgrade back. Under each new version the old leases
// renew and revoke (the requests are checked in), the pending request is
// approved and claimed, and new checkouts work.
func TestUpgradeAndDowngrade(t *testing.T) {
	t.Parallel()
	oldB, newB := baseBuild(), nextBuild(t)
	e := newEnv(t)
	v := startDevVault(t, "upgrade")
	e.addVault(v)
	v.enableAudit()
	v.install(newB) // step 1: the binary in the plugin directory
	v.registerBuild(oldB)
	// The catalog refuses a build under a version it does not report.
	if _, err := v.cli("plugin", "register", "-sha256="+newB.sha256, "-version=v9.9.9", "-command="+newB.command, "secret", pluginName); err == nil {
		t.Fatalf("the %s build was registered as v9.9.9", newB.version)
	} else {
		t.Logf("registering the %s build as v9.9.9: %v", newB.version, err)
	}
	v.enable(mount) // -plugin-version=v0.1.0
	v.checkRunning(oldB, newB)
	e.writeConfig(v)
	e.upgradeRoles()

	// Upgrade.
	c1 := e.takeLeases(oldB.version)
	v.registerBuild(newB)
	v.switchTo(newB, oldB)
	e.afterSwitch(c1, newB.version)

	// New checkouts under v0.2.0, which then cross the downgrade.
	c2 := e.takeLeases(newB.version)
	v.switchTo(oldB, newB) // v0.1.0 is still registered: rollback is tune + reload
	e.afterSwitch(c2, oldB.version)

	// A reload by mount through the API (the README's alternative; the
	// 1.21.0 CLI's -mounts does not reach it in the root namespace) keeps
	// it on v0.1.0.
	v.must("write", "sys/plugins/reload/backend", "mounts="+mount+"/")
	v.checkRunning(oldB, newB)

	// And v0.1.0 serves new checkouts again.
	c3 := e.takeLeases(oldB.version)
	e.afterSwitch(c3, oldB.version)
	if n := len(e.sim.Inspect().Requests()); n != 9 {
		t.Fatalf("the simulator saw %d requests, want 9 (three crossings of three)", n)
	}
}

// TestUpgradeHA follows the runbook on a three-node raft cluster: the v0.2.0
// binary goes into every node's plugin directory first, then register, tune
// and `plugin reload -scope=global` on the active node. The active node
// steps down: the node that takes over loads the mount from the mount table
// (plugin_version v0.2.0) and runs v0.2.0 from its own plugin directory,
// where the leases and the pending request made under v0.1.0 on the old
// active node renew, are claimed and revoke. Then the same for the
// downgrade, with another step-down.
func TestUpgradeHA(t *testing.T) {
	t.Parallel()
	oldB, newB := baseBuild(), nextBuild(t)
	e := newEnv(t)
	nodes := e.raftCluster(3)
	for _, n := range nodes {
		n.install(newB) // step 1, on every node
	}
	n1 := nodes[0]
	n1.enableAudit()
	n1.registerBuild(oldB)
	n1.enable(mount)
	e.writeConfig(n1)
	e.upgradeRoles()

	c1 := e.takeLeases(oldB.version)
	n1.registerBuild(newB)
	n1.switchTo(newB, oldB, "-scope=global")

	active := e.stepDown(nodes, oldB, newB)
	active.checkRunning(newB, oldB)
	e.afterSwitch(c1, newB.version)

	c2 := e.takeLeases(newB.version)
	active.switchTo(oldB, newB, "-scope=global")
	active = e.stepDown(nodes, oldB, newB)
	active.checkRunning(oldB, newB)
	e.afterSwitch(c2, oldB.version)
	for _, n := range nodes {
		t.Logf("%s: %d %s processes, %d %s processes", n.name, len(n.pluginPIDsOf(oldB.command)), oldB.command, len(n.pluginPIDsOf(newB.command)), newB.command)
	}
}

// stepDown makes the active node step down, waits for another node to
// become active, makes it the env's, and checks that the node that stepped
// down keeps no plugin process (a standby runs no mount on Vault Community).
func (e *env) stepDown(nodes []*vault, builds ...pluginBuild) *vault {
	e.t.Helper()
	old := e.vault()
	old.must("operator", "step-down")
	var active *vault
	eventually(e.t, 60*time.Second, "another node to become active after "+old.name+" stepped down", func() (bool, string) {
		var codes []string
		for _, n := range nodes {
			code := n.health()
			codes = append(codes, fmt.Sprintf("%s %d", n.name, code))
			if n != old && code == 200 {
				active = n
				return true, ""
			}
		}
		return false, strings.Join(codes, ", ")
	})
	// Every node keeps the root token (they share it).
	e.setActive(active)
	e.t.Logf("%s stepped down, %s is active", old.name, active.name)
	eventually(e.t, 30*time.Second, old.name+"'s plugin processes to end", func() (bool, string) {
		var left []string
		for _, b := range builds {
			if pids := old.pluginPIDsOf(b.command); len(pids) > 0 {
				left = append(left, fmt.Sprintf("%s %v", b.command, pids))
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
	return active
}

// TestUpgradeHAMissingBinary is the runbook's first step skipped on the
// standbys: v0.2.0 only in the active node's plugin directory. The upgrade
// works on that node; after a step-down the new active node cannot start
// the mount (its file is missing): old leases do not renew. A `plugin
// reload` there once the file is copied starts the plugin but (Vault
// 1.21.0) leaves the mount's storage read-only: writes fail. The repair is
// the binary on every node and a step-down (a fresh mount setup): then the
// leases made under v0.1.0 renew, the pending request is claimed, and
// everything revokes and is checked in.
func TestUpgradeHAMissingBinary(t *testing.T) {
	t.Parallel()
	oldB, newB := baseBuild(), nextBuild(t)
	e := newEnv(t)
	nodes := e.raftCluster(3)
	n1 := nodes[0]
	n1.install(newB) // and forgotten on the others
	n1.enableAudit()
	n1.registerBuild(oldB)
	n1.enable(mount)
	e.writeConfig(n1)
	e.upgradeRoles()
	c := e.takeLeases(oldB.version)
	n1.registerBuild(newB)
	n1.switchTo(newB, oldB, "-scope=global")

	broken := e.stepDown(nodes, oldB, newB)
	t.Logf("on %s without the binary, secrets list says: %+v", broken.name, broken.mountInfo(mount))
	if _, err := broken.cli("lease", "renew", c.excl.LeaseID); err == nil {
		t.Fatalf("%s has no v0.2.0 binary, yet a lease of the mount renewed", broken.name)
	} else {
		t.Logf("renew on %s without the binary: %v", broken.name, err)
	}
	if n := len(broken.pluginPIDsOf(newB.command)) + len(broken.pluginPIDsOf(oldB.command)); n != 0 {
		t.Fatalf("%s runs %d plugin processes without the binary", broken.name, n)
	}

	// Copying the file and reloading there is not enough.
	broken.install(newB)
	broken.must("plugin", "reload", "-type=secret", "-plugin="+pluginName)
	broken.checkRunning(newB, oldB)
	if _, err := broken.cli("write", mount+"/roles/probe", "system_name=db-prod-01", "account_name=postgres"); err == nil || !strings.Contains(err.Error(), "cannot write to storage during setup") {
		t.Fatalf("a write to the reloaded mount on %s: %v; Vault left the storage of a mount it skipped at setup read-only after a reload up to 1.21.0, README's upgrade notes say so", broken.name, err)
	}

	// The repair: the binary on every node, and a fresh setup of the mount.
	for _, n := range nodes {
		n.install(newB)
	}
	active := e.stepDown(nodes, oldB, newB)
	active.checkRunning(newB, oldB)
	e.afterSwitch(c, newB.version)
}
