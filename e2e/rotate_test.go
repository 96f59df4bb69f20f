//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestRotateOnDemand: the README's rotate examples in a real Vault, with
// the README's policy. A rotation with a given password (from a file) is
// what the next checkout returns; a generated one changes it again; a
// rotation while a lease is live is refused (409) unless forced, and the
// forced answer names the lease's request. The password never appears in
// the audit log or Vault's log (the env's log scan).
func TestRotateOnDemand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("db", "system_name=db-prod-01", "account_name=postgres", "ttl=1m", "max_ttl=10m")

	// The README's policy: rotate one role, check it out.
	pol := `path "passwordsafe/roles/db/rotate" {
  capabilities = ["update"]
}
path "passwordsafe/creds/db" {
  capabilities = ["read"]
}
`
	writeFile(t, v.dir+"/rotate-policy.hcl", pol)
	v.must("policy", "write", "db-rotate", v.dir+"/rotate-policy.hcl")
	var tok struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	v.mustJSON(&tok, []string{"token", "create"}, "-policy=db-rotate", "-ttl=1h")
	token := tok.Auth.ClientToken

	// A given password, from a file ending in a line break.
	const given = "E2E-Rotated-Pw-7788!"
	e.addSecret(given, "rotated password")
	pwFile := v.dir + "/new-password.txt"
	if err := os.WriteFile(pwFile, []byte(given+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data     map[string]any `json:"data"`
		Warnings []string       `json:"warnings"`
	}
	if err := v.jsonAs(token, &out, []string{"write"}, mount+"/roles/db/rotate", "password=@"+pwFile); err != nil {
		t.Fatal(err)
	}
	if out.Data["account_name"] != "postgres" || out.Data["generated"] != false {
		t.Fatalf("rotate answer %v", out.Data)
	}
	if got := e.sim.Inspect().Password(11); got != given {
		t.Fatalf("Password Safe holds another password than the one given")
	}
	s := e.creds(token, "db")
	if s.Data["password"] != given {
		t.Fatalf("checkout after rotation does not return the new password")
	}

	// While that lease is live: refused, then forced.
	if _, err := v.cliAs(token, "write", "-f", mount+"/roles/db/rotate"); err == nil ||
		!strings.Contains(err.Error(), "Code: 409") || !strings.Contains(err.Error(), "force=true") ||
		!strings.Contains(err.Error(), "vault lease revoke -prefix passwordsafe/creds/db") {
		t.Fatalf("rotation under a live lease: %v", err)
	}
	if e.sim.Inspect().Password(11) != given {
		t.Fatalf("a refused rotation changed the password")
	}
	if err := v.jsonAs(token, &out, []string{"write"}, mount+"/roles/db/rotate", "force=true"); err != nil {
		t.Fatal(err)
	}
	aff, _ := out.Data["affected"].([]any)
	if len(aff) != 1 || !strings.Contains(strings.Join(out.Warnings, " "), "force=true") {
		t.Fatalf("forced rotation does not name the lease's request: %v %v", out.Data, out.Warnings)
	}
	generated := e.sim.Inspect().Password(11)
	e.addSecret(generated, "generated password")
	if generated == given || out.Data["generated"] != true {
		t.Fatalf("forced rotation did not generate a new password")
	}
	v.must("lease", "revoke", s.LeaseID)
	e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 20*time.Second)

	// Check-in rotates again (RotateOnCheckin); the next checkout returns
	// whatever Password Safe holds now.
	s = e.creds(token, "db")
	if s.Data["password"] != e.sim.Inspect().Password(11) {
		t.Fatalf("checkout does not return Password Safe's current password")
	}
	v.must("lease", "revoke", s.LeaseID)
	e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 20*time.Second)

	// The token may not rotate another role.
	e.writeRole("web", "system_name=web-01", "account_name=deploy")
	if _, err := v.cliAs(token, "write", "-f", mount+"/roles/web/rotate"); err == nil {
		t.Fatalf("a token without the policy rotated roles/web")
	}
}
