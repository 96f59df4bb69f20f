//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// agentRole is the role setting recommended for Vault Agent templates (see
// README): conflict_option=reuse, so the agent's new checkout, made before
// its old lease ends, meets the old request without a 409 (the engine
// replaces the nearly expired request); max_ttl is when the agent hands over
// to a new credential, ttl how often it renews until then.
var agentRole = []string{"system_name=db-prod-01", "account_name=postgres", "ttl=10s", "max_ttl=30s", "conflict_option=reuse"}

// TestAgentTemplate: Vault Agent renders a credential with a template, hands
// over to a new checkout when the lease reaches its max TTL (the file changes,
// with no error loop in between), and once the agent is stopped and its token
// revoked, every checkout it made is checked in.
func TestAgentTemplate(t *testing.T) {
	t.Parallel()
	t.Run("reuse", func(t *testing.T) {
		t.Parallel()
		testAgent(t, agentRole, true)
	})
	// Without conflict_option the hand-over meets the old request (409)
	// until the old lease ends: the agent retries and recovers, nothing
	// leaks, but its log shows the errors. Kept to document why the README
	// recommends reuse.
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		testAgent(t, []string{"system_name=db-prod-01", "account_name=postgres", "ttl=10s", "max_ttl=30s"}, false)
	})
}

func testAgent(t *testing.T, role []string, wantClean bool) {
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("agent", role...)
	tok := e.limitedToken(v, "passwordsafe/creds/agent")

	dir := filepath.Join(v.dir, "agent")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, tok)
	out := filepath.Join(dir, "password.txt")
	cfg := filepath.Join(dir, "agent.hcl")
	writeFile(t, cfg, fmt.Sprintf(`pid_file = %q
vault {
  address = %q
}
auto_auth {
  method "token_file" {
    config = {
      token_file_path = %q
    }
  }
}
template_config {
  exit_on_retry_failure = true
}
template {
  contents    = "{{ with secret \"passwordsafe/creds/agent\" }}{{ .Data.password }}{{ end }}"
  destination = %q
  perms       = "0600"
}
`, filepath.Join(dir, "agent.pid"), v.addr, tokenFile, out))
	logPath := filepath.Join(dir, "agent.log")
	e.addLog(logPath)
	agent := startProc(t, "vault agent", logPath, baseEnv(filepath.Join(v.dir, "home")), vaultBin, "agent", "-config="+cfg, "-log-level=debug")
	t.Cleanup(func() { agent.stop(10 * time.Second) })

	read := func() string {
		b, err := os.ReadFile(out)
		if err != nil {
			return ""
		}
		return string(b)
	}
	// Every value the file ever held, in order, sampled as the agent works.
	var seen []string
	watch := func(until func(string) bool, timeout time.Duration, what string) {
		t.Helper()
		eventually(t, timeout, what, func() (bool, string) {
			if agent.exited() {
				t.Fatalf("agent exited: %v\n%s", agent.err, redactedTail(logPath, 40, e))
			}
			cur := read()
			if cur != "" && (len(seen) == 0 || seen[len(seen)-1] != cur) {
				seen = append(seen, cur)
				e.addSecret(cur, "a password the agent rendered")
			}
			return until(cur), fmt.Sprintf("%d distinct values so far", len(seen))
		})
	}
	watch(func(s string) bool { return s != "" }, 30*time.Second, "the first render")
	if seen[0] != e.sim.Inspect().Password(11) {
		t.Fatalf("rendered file does not hold account 11's password")
	}
	first := seen[0]
	// The lease reaches max_ttl (30s): the agent checks out anew and the
	// file changes; then once more, to show the hand-over repeats cleanly.
	watch(func(s string) bool { return len(seen) >= 2 }, 90*time.Second, "the file to change after max_ttl")
	watch(func(s string) bool { return len(seen) >= 3 }, 90*time.Second, "the file to change a second time")
	if seen[1] == first {
		t.Fatalf("second render repeats the first password")
	}
	// Whatever the file holds is a password Password Safe accepts now (or
	// one just being handed over).
	if cur := read(); cur != e.sim.Inspect().Password(11) {
		t.Logf("note: the file holds an older password than the account's current one")
	}

	agent.stop(10 * time.Second)
	v.must("token", "revoke", tok)
	eventually(t, 30*time.Second, "every checkout of the agent to be checked in", func() (bool, string) {
		var active []int
		for _, r := range e.sim.Inspect().Requests() {
			if r.AccountID == 11 && r.Status == "active" {
				active = append(active, r.ID)
			}
		}
		return len(active) == 0, fmt.Sprintf("still active: %v", active)
	})
	n := 0
	for _, r := range e.sim.Inspect().Requests() {
		if r.AccountID == 11 && r.UserName == pstest.DemoUserSvcVault {
			n++
		}
	}
	if n < 3 {
		t.Fatalf("the agent made %d checkouts, want at least 3", n)
	}

	// No error loop: the agent's log shows no failed fetch of the secret.
	logText, _ := os.ReadFile(logPath)
	bad := errorLines(string(logText))
	switch {
	case wantClean && len(bad) > 0:
		t.Errorf("agent log has %d error lines during the hand-overs, first: %s", len(bad), redact(bad[0], e))
	case !wantClean:
		first := ""
		if len(bad) > 0 {
			first = ", first: " + redact(bad[0], e)
		}
		t.Logf("with role %v the agent logged %d errors over %d hand-overs%s", role, len(bad), len(seen)-1, first)
	}
}

var agentErrLine = regexp.MustCompile(`(?m)^.*\[(ERROR|WARN)\].*$`)

// errorLines are the agent's errors and failed-and-retried reads. The
// warning "renewer done (maybe the lease expired)" is the agent noticing a
// lease at its max TTL: the hand-over itself, not an error.
func errorLines(log string) []string {
	var bad []string
	for _, l := range agentErrLine.FindAllString(log, -1) {
		switch {
		case strings.Contains(l, "renewer done"):
		case strings.Contains(l, "context canceled"), strings.Contains(l, "shutdown"):
		default:
			bad = append(bad, l)
		}
	}
	return bad
}

// redactedTail is the end of a log with every known secret masked.
func redactedTail(path string, n int, e *env) string { return redact(tail(path, n), e) }

func redact(s string, e *env) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for sec := range e.secrets {
		s = strings.ReplaceAll(s, sec, "<secret>")
	}
	return s
}
