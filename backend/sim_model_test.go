package backend_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// ---- the model ----

type simCaller struct {
	name     string
	entity   string // Vault entity ID, "" when none
	accessor string // token accessor, "" for batch tokens
}

// sameToEngine: whether the engine may take a and b for one caller (the
// same entity, or the same token): a hand-over between them is allowed.
func (a *simCaller) sameToEngine(b *simCaller) bool {
	if a.entity != "" || b.entity != "" {
		return a.entity == b.entity
	}
	return a.accessor != "" && a.accessor == b.accessor
}

type simLease struct {
	id        string
	secret    *logical.Secret
	requestID int
	account   int
	caller    *simCaller
	expireAt  time.Time // Vault's view
	// endedOK: the request was ended in a way the contract allows under a
	// live lease (operator check-in, same-caller hand-over, a person in
	// Password Safe); the lease lives on in Vault until revoked.
	endedOK bool
	// revoke retries, as Vault's expiration manager does them
	revoking    bool
	revokeTries int
	nextRevoke  time.Time
	irrevocable bool
}

func (l *simLease) live(now time.Time) bool {
	return !l.revoking && !l.irrevocable && now.Before(l.expireAt)
}

type simPending struct {
	requestID int
	caller    *simCaller
	account   int
}

type simRole struct {
	name    string
	account int // the account it checks out (alias roles: the alias's account)
	data    map[string]interface{}
}

var simRoles = []simRole{
	{"excl", 12, map[string]interface{}{"system_id": 1, "account_id": 12, "conflict_option": "none"}},
	{"reuse", 11, map[string]interface{}{"system_id": 1, "account_id": 11, "conflict_option": "reuse"}},
	{"alias", 11, map[string]interface{}{"alias_name": "prod-db-admin", "conflict_option": "reuse"}},
	{"renew", 1001, map[string]interface{}{"system_id": 100, "account_id": 1001, "conflict_option": "renew"}},
	{"appr", 31, map[string]interface{}{"system_id": 3, "account_id": 31, "conflict_option": "none"}},
	{"apprwait", 31, map[string]interface{}{"system_id": 3, "account_id": 31, "conflict_option": "none", "approval_wait": "3s"}},
	{"apprreuse", 31, map[string]interface{}{"system_id": 3, "account_id": 31, "conflict_option": "reuse"}},
}

// foreignAccounts are where a person using the run-as user outside Vault
// makes requests: accounts only conflict_option=none roles check out (reuse
// and renew would by Password Safe's own rules join or end that request).
var foreignAccounts = []int{12, 31}

// ---- crashes ----

var errCrashed = errors.New("sim: the plugin process has crashed")

// crashPoint kills the plugin after a number of effects (storage writes and
// upstream calls): from then on every storage call and upstream call of
// that backend fails, as if the process were gone.
type crashPoint struct {
	mu      sync.Mutex
	left    int
	armed   bool
	crashed bool
	// afterSend: the fatal upstream call reaches Password Safe (which acts)
	// before the process dies.
	afterSend bool
}

func (c *crashPoint) step() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return true
	}
	if !c.armed {
		return false
	}
	c.left--
	if c.left < 0 {
		c.crashed = true
	}
	return c.crashed
}

func (c *crashPoint) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}

type crashStorage struct {
	logical.Storage
	cp *crashPoint
}

func (s crashStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	if s.cp.dead() {
		return nil, errCrashed
	}
	return s.Storage.Get(ctx, k)
}

func (s crashStorage) List(ctx context.Context, p string) ([]string, error) {
	if s.cp.dead() {
		return nil, errCrashed
	}
	return s.Storage.List(ctx, p)
}

func (s crashStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if s.cp.step() {
		return errCrashed
	}
	return s.Storage.Put(ctx, e)
}

func (s crashStorage) Delete(ctx context.Context, k string) error {
	if s.cp.step() {
		return errCrashed
	}
	return s.Storage.Delete(ctx, k)
}

type crashTransport struct {
	rt http.RoundTripper
	cp *crashPoint
}

func (t crashTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.cp.dead() {
		return nil, errCrashed
	}
	if !t.cp.step() {
		return t.rt.RoundTrip(r)
	}
	if t.cp.afterSend {
		resp, err := t.rt.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
	}
	return nil, errCrashed
}
