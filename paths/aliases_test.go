package paths

import (
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"prod-db-admin", "café", "with space", "EXAMPLE\\svc", "a.b", strings.Repeat("n", client.MaxNameLength)} {
		if err := ValidateName("alias name", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", " ", "a\x00b", "nl\n", "\t", "\u0085", "\xff", strings.Repeat("n", client.MaxNameLength+1)} {
		err := ValidateName("alias name", bad)
		if err == nil {
			t.Errorf("%.20q accepted", bad)
			continue
		}
		if strings.ContainsAny(err.Error(), "\x00\n\t") {
			t.Errorf("message repeats the control characters: %q", err)
		}
	}
}

func TestAliasData(t *testing.T) {
	changed := time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	a := &client.Alias{AliasID: 3, AliasName: "fin-sa", SystemID: 3, AccountID: 31, MaximumReleaseDuration: 480,
		LastChangeDate: &changed, MappedAccounts: []client.MappedAccount{{AliasID: 3, ManagedSystemID: 3, ManagedAccountID: 31, Status: 2}}}
	d := aliasData(a)
	if d["requestable"] != true || d["last_change_date"] != "2025-03-01T09:00:00Z" || d["next_change_date"] != nil {
		t.Fatalf("%v", d)
	}
	a.MappedAccounts[0].Status = 0
	if aliasData(a)["requestable"] != false {
		t.Fatalf("unmapped alias requestable")
	}
}
