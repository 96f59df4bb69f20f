//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// TestCLILifecycle walks an operator's whole session with the vault CLI on one
// dev server: register, enable, config, roles, checkout, renew, revoke.
func TestCLILifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := startDevVault(t, "lifecycle")
	e.addVault(v)
	v.enableAudit()

	// Registration by SHA-256 and version, and a versioned mount.
	v.registerPlugin()
	var info struct {
		Name    string `json:"name"`
		SHA256  string `json:"sha256"`
		Version string `json:"version"`
		Builtin bool   `json:"builtin"`
	}
	v.mustJSON(&info, []string{"plugin", "info"}, "-version="+pluginVersion, "secret", pluginName)
	if info.Name != pluginName || info.SHA256 != pluginSHA256(t) || info.Version != pluginVersion || info.Builtin {
		t.Fatalf("plugin info: %+v", info)
	}
	v.enable(mount)
	var mounts map[string]struct {
		Type                 string `json:"type"`
		PluginVersion        string `json:"plugin_version"`
		RunningPluginVersion string `json:"running_plugin_version"`
		RunningSHA256        string `json:"running_sha256"`
	}
	v.mustJSON(&mounts, []string{"secrets", "list"})
	m := mounts[mount+"/"]
	if m.Type != pluginName || m.RunningPluginVersion != pluginVersion {
		t.Fatalf("mount %s/: %+v, want type %s running %s", mount, m, pluginName, pluginVersion)
	}

	// Config: written, verified upstream, and never read back with secrets.
	e.writeConfig(v)
	cfg := v.must("read", "-format=json", mount+"/config")
	if strings.Contains(cfg, pstest.DemoAPIKey) {
		t.Fatalf("config read returns the API key")
	}
	if !strings.Contains(cfg, e.sim.APIURL) || !strings.Contains(cfg, pstest.DemoUserSvcVault) {
		t.Fatalf("config read lacks url or run_as: %s", cfg)
	}
	// A config the upstream rejects is refused and changes nothing.
	if _, err := v.cli("write", mount+"/config", "url="+e.sim.APIURL, "api_key=0000", "run_as=svc-vault", "allow_plain_http=true"); err == nil {
		t.Fatalf("config with a wrong API key was accepted")
	}

	// Roles of every kind.
	e.writeRole("db", "system_name=db-prod-01", "account_name=postgres", "ttl=1m", "max_ttl=10m")
	e.writeRole("web-root-key", "system_name=web-01", "account_name=root", "credential_types=password,dsskey,passphrase", "ttl=1m", "max_ttl=10m")
	e.writeRole("prod-db-admin", "alias_name=prod-db-admin", "ttl=1m", "max_ttl=10m")
	if _, err := v.cli("write", mount+"/roles/nope", "system_name=no-such-system", "account_name=postgres"); err == nil {
		t.Fatalf("a role naming an unknown system was accepted")
	}
	var roles []string
	v.mustJSON(&roles, []string{"list"}, mount+"/roles")
	if strings.Join(roles, ",") != "db,prod-db-admin,web-root-key" {
		t.Fatalf("roles: %v", roles)
	}

	// Checkout: the password is the account's current one, under a lease.
	before := e.sim.Inspect().Password(11)
	s := e.creds("", "db")
	if s.Data["password"] != before {
		t.Fatalf("creds/db password is not account 11's current password")
	}
	if !s.Renewable || s.LeaseDuration <= 0 || s.LeaseDuration > 60 {
		t.Fatalf("creds/db lease: renewable %v duration %d, want renewable with ttl ≤ 60s", s.Renewable, s.LeaseDuration)
	}
	rid := e.requestOf(s.LeaseID)
	r := e.waitStatus(rid, "active", time.Second)
	if r.AccountID != 11 || r.UserName != pstest.DemoUserSvcVault {
		t.Fatalf("request %d: %+v", rid, r)
	}

	// Renewal extends the lease; the request stays active.
	var renewed secret
	v.mustJSON(&renewed, []string{"lease", "renew"}, "-increment=5m", s.LeaseID)
	if renewed.LeaseDuration <= 60 || renewed.LeaseDuration > 600 {
		t.Fatalf("renewed lease duration %d, want more than the 60s ttl and at most max_ttl", renewed.LeaseDuration)
	}
	e.waitStatus(rid, "active", time.Second)

	// Revocation checks the request in and the password rotates.
	v.must("lease", "revoke", s.LeaseID)
	r = e.waitStatus(rid, "checkedin", 10*time.Second)
	if after := e.sim.Inspect().Password(11); after == before {
		t.Fatalf("password of account 11 did not rotate on check-in")
	}
	e.addSecret(before, "password of account 11 before rotation")

	// DSS key role: password, key and passphrase.
	k := e.creds("", "web-root-key")
	var sawKey, sawPassphrase bool
	for _, val := range k.Data {
		s, _ := val.(string)
		if strings.Contains(s, "PRIVATE KEY") {
			sawKey = true
		}
		if s == pstest.DemoPassphrase21 {
			sawPassphrase = true
		}
	}
	if k.Data["password"] != e.sim.Inspect().Password(21) || !sawKey || !sawPassphrase {
		t.Fatalf("creds/web-root-key: want password, DSS key and passphrase; got fields %v", keysOf(k.Data))
	}
	v.must("lease", "revoke", k.LeaseID)
	e.waitStatus(e.requestOf(k.LeaseID), "checkedin", 10*time.Second)

	// Alias role.
	a := e.creds("", "prod-db-admin")
	if a.Data["password"] != e.sim.Inspect().Password(11) {
		t.Fatalf("creds/prod-db-admin password is not account 11's current password")
	}
	ar, _ := e.sim.Inspect().Request(e.requestOf(a.LeaseID))
	if ar.AliasID != 1 {
		t.Fatalf("alias request %+v, want AliasID 1", ar)
	}
	v.must("lease", "revoke", a.LeaseID)
	e.waitStatus(ar.ID, "checkedin", 10*time.Second)

	// An exclusive checkout that meets a live one answers a clear conflict.
	first := e.creds("", "db")
	_, err := e.tryCreds(v, "", "db")
	if err == nil || !(strings.Contains(strings.ToLower(err.Error()), "conflict") || strings.Contains(err.Error(), "409")) {
		t.Fatalf("second checkout of db: want a conflict error, got %v", err)
	}
	// Renewal never goes past the lease's max TTL (10m), whatever is asked.
	var capped secret
	v.mustJSON(&capped, []string{"lease", "renew"}, "-increment=2h", first.LeaseID)
	if capped.LeaseDuration > 600 || capped.LeaseDuration < 500 {
		t.Fatalf("renew -increment=2h gave %ds, want the rest of max_ttl (about 600s)", capped.LeaseDuration)
	}
	v.must("lease", "revoke", first.LeaseID)
	e.waitStatus(e.requestOf(first.LeaseID), "checkedin", 10*time.Second)

	// A per-call ttl (vault write creds/<role>).
	w := e.creds("", "db", "ttl=30s", "reason=e2e per-call ttl")
	if w.LeaseDuration != 30 {
		t.Fatalf("write creds/db ttl=30s: lease duration %d", w.LeaseDuration)
	}
	// The engine appends its recovery tag: "[vault:" and 16 hex digits.
	if r, _ := e.sim.Inspect().Request(e.requestOf(w.LeaseID)); !regexp.MustCompile(`^e2e per-call ttl \[vault:[0-9a-f]{16}\]$`).MatchString(r.Reason) {
		t.Fatalf("the request's reason is %q, want the per-call reason and the recovery tag", r.Reason)
	}
	v.must("lease", "revoke", w.LeaseID)
	e.waitStatus(e.requestOf(w.LeaseID), "checkedin", 10*time.Second)

	// The mount's tuned max lease TTL caps the role's max_ttl, and with it
	// the request's duration in Password Safe.
	v.must("secrets", "tune", "-max-lease-ttl=2m", mount)
	// The engine caches the mount's TTLs for up to 5s (a gRPC round trip
	// saved on every checkout); a tune applies within that.
	time.Sleep(6 * time.Second)
	tuned := e.creds("", "db")
	if r, _ := e.sim.Inspect().Request(e.requestOf(tuned.LeaseID)); r.DurationMinutes != 2 || tuned.LeaseDuration > 120 {
		t.Fatalf("with the mount's max lease TTL at 2m: request duration %d min, lease %ds; want 2 min and at most 120s", r.DurationMinutes, tuned.LeaseDuration)
	}
	v.must("lease", "revoke", tuned.LeaseID)
	e.waitStatus(e.requestOf(tuned.LeaseID), "checkedin", 10*time.Second)
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestLeaseExpiry: a lease nobody renews or revokes is checked in by Vault's
// expiration manager at its TTL.
func TestLeaseExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.devVault()
	e.writeRole("short", "system_name=db-prod-01", "account_name=app_user", "ttl=10s", "max_ttl=10s")
	before := e.sim.Inspect().Password(12)
	s := e.creds("", "short")
	if s.LeaseDuration > 10 {
		t.Fatalf("lease duration %d > max_ttl 10s", s.LeaseDuration)
	}
	rid := e.requestOf(s.LeaseID)
	start := time.Now()
	e.waitStatus(rid, "checkedin", 45*time.Second)
	if el := time.Since(start); el < 5*time.Second {
		t.Fatalf("checked in after %s, before the lease ended", el)
	}
	if e.sim.Inspect().Password(12) == before {
		t.Fatalf("password did not rotate at expiry")
	}
}

// TestTokenRevocation: revoking the token that owns leases checks every one in.
func TestTokenRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("db", "system_name=db-prod-01", "account_name=postgres", "ttl=5m")
	e.writeRole("app", "system_name=db-prod-01", "account_name=app_user", "ttl=5m")
	tok := e.limitedToken(v, "passwordsafe/creds/*")
	s1 := e.creds(tok, "db")
	s2 := e.creds(tok, "app")
	v.must("token", "revoke", tok)
	e.waitStatus(e.requestOf(s1.LeaseID), "checkedin", 20*time.Second)
	e.waitStatus(e.requestOf(s2.LeaseID), "checkedin", 20*time.Second)
}

// limitedToken makes a policy allowing read/update on path and a token with it.
func (e *env) limitedToken(v *vault, path string) string {
	e.t.Helper()
	pol := fmt.Sprintf("path %q {\n  capabilities = [\"read\", \"update\"]\n}\n", path)
	polFile := v.dir + "/creds-policy.hcl"
	writeFile(e.t, polFile, pol)
	v.must("policy", "write", "creds", polFile)
	var tok struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	v.mustJSON(&tok, []string{"token", "create"}, "-policy=creds", "-ttl=1h")
	return tok.Auth.ClientToken
}

// TestSecretsDisable: disabling the mount revokes all its leases, each one
// checked in.
func TestSecretsDisable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("db", "system_name=db-prod-01", "account_name=postgres", "ttl=5m")
	e.writeRole("web", "system_name=web-01", "account_name=deploy", "ttl=5m")
	s1 := e.creds("", "db")
	s2 := e.creds("", "web")
	v.must("secrets", "disable", mount)
	for _, s := range []secret{s1, s2} {
		e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 20*time.Second)
	}
	var mounts map[string]json.RawMessage
	v.mustJSON(&mounts, []string{"secrets", "list"})
	if _, ok := mounts[mount+"/"]; ok {
		t.Fatalf("mount still listed after disable")
	}
}

// TestReuseSharedAcrossTokens: with conflict_option=reuse two callers (two
// tokens) share one Password Safe request; it is checked in when the last
// lease on it ends, and one caller's read never ends the other's request
// early, even near the request's end, where the engine replaces an expiring
// request for the same caller (the Agent hand-over). The tokens here have no
// identity entity, as tokens made with `vault token create` do.
func TestReuseSharedAcrossTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("shared", "system_name=db-prod-01", "account_name=postgres", "ttl=1m", "max_ttl=10m", "conflict_option=reuse")
	e.writeRole("short", "system_name=db-prod-01", "account_name=app_user", "ttl=30s", "max_ttl=60s", "conflict_option=reuse")
	a := e.limitedToken(v, "passwordsafe/creds/*")
	b := e.limitedToken(v, "passwordsafe/creds/*")

	// A long request: shared, checked in with the last lease.
	sa := e.creds(a, "shared")
	sb := e.creds(b, "shared")
	rid := e.requestOf(sa.LeaseID)
	if e.requestOf(sb.LeaseID) != rid {
		t.Fatalf("reuse made a second request (%d) instead of sharing %d", e.requestOf(sb.LeaseID), rid)
	}
	v.must("lease", "revoke", sa.LeaseID)
	time.Sleep(time.Second)
	e.waitStatus(rid, "active", time.Second) // B still holds it
	v.must("lease", "revoke", sb.LeaseID)
	e.waitStatus(rid, "checkedin", 10*time.Second)

	// Near the request's end (a one-minute request is always near it):
	// B's read must not end A's request, whose lease is still live.
	pw := e.sim.Inspect().Password(12)
	sa = e.creds(a, "short")
	ra := e.requestOf(sa.LeaseID)
	sb = e.creds(b, "short")
	if r, _ := e.sim.Inspect().Request(ra); r.Status != "active" {
		t.Errorf("another token's read ended request %d (now %s) while token A's lease on it is live; "+
			"the hand-over must only replace a request all of whose holders are the caller itself "+
			"(with no entity, compare the token, not the empty entity ID)", ra, r.Status)
	}
	if e.sim.Inspect().Password(12) != pw {
		t.Errorf("the password of account 12 rotated under token A's live lease")
	}
	v.must("lease", "revoke", sa.LeaseID)
	v.must("lease", "revoke", sb.LeaseID)
	for _, s := range []secret{sa, sb} {
		e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 10*time.Second)
	}
}
