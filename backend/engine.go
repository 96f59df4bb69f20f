// Package backend is the engine of the Password Safe secrets engine: the
// life of a lease that is a Password Safe release request. It owns
// checkout, claim, check-in, renewal decisions, the records of who holds
// which request, recovery (WAL rollback, the check-in queue, the periodic
// reconciliation), upstream sessions per run-as user, run-as resolution and
// Vault events.
//
// It takes typed inputs and returns typed results and errors. It must not
// build Vault responses, define paths or fields, or word messages for the
// CLI: that is package paths, which calls it through the concrete *Engine.
package backend

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Host is what the engine uses of the Vault backend it runs in; the
// framework.Backend that package paths assembles provides it.
type Host interface {
	Logger() hclog.Logger
	System() logical.SystemView
	SendEvent(ctx context.Context, eventType logical.EventType, event *logical.EventData) error
}

// DefaultWALRollbackMinAge must be longer than any checkout can take (Vault's
// max_request_duration is 90s by default; approval_wait is capped at 10m),
// so rollback never races a checkout that is still running.
const DefaultWALRollbackMinAge = 15 * time.Minute

// MinWALRollbackMinAge is the least a mount may set. A value below the
// default is for tests and demos: rollback could then race a checkout still
// waiting for approval or a slow upstream.
const MinWALRollbackMinAge = 30 * time.Second

// Engine is the lease/request engine of one mount. Use New.
type Engine struct {
	host Host

	// now is the clock for lease maths and request times (tests use the
	// simulator's clock so both agree).
	now func() time.Time
	// approvalPoll is the pause between GET Credentials polls while a read
	// waits for approval (tests shrink it). approval_wait counts polls of
	// one second each, so a shrunk pause shrinks the wait too.
	approvalPoll time.Duration
	// pendingClaimWindow is how long an approved request recorded as pending
	// may stay unclaimed before the periodic func checks it in.
	pendingClaimWindow time.Duration
	// sweepEvery is how often the periodic func sweeps records of requests
	// that have ended upstream.
	sweepEvery time.Duration
	lastSweep  time.Time
	sweepMu    sync.Mutex
	// walRollbackMinAge is the mount's: a checkout's approval wait stays
	// well below it.
	walRollbackMinAge time.Duration
	// successorWait: a reuse checkout that is handed a shared request
	// ending within this long waits for it to end and checks out its
	// successor (see successorSoon in reuse.go); 0 turns the wait off
	// (tests that drive a fake clock). sleep is how it waits.
	successorWait time.Duration
	sleep         func(ctx context.Context, d time.Duration) error
	// renewChecks shares the GET Requests of concurrent renews (renewcheck.go).
	renewChecks renewChecks

	// clientOptions, when set, adjusts every upstream client's config before
	// it is built (tests: an HTTP client that can fail like a crashed
	// process, fast retries).
	clientOptions func(*client.Config)

	// resolveRunAs is the single hook that decides the run-as user (see runas.go).
	resolveRunAs func(ctx context.Context, req *logical.Request, cfg *Config, role *Role) (string, error)

	cache    *cache    // config and roles
	sessions *sessions // upstream sessions per (config generation, run-as)
	events   events    // Vault events, sent in the background
	// metrics counts every upstream call of every client of this engine
	// (status); a few atomic additions per call.
	metrics *client.Metrics
	// locks guard each request's record and holders (lockRequest);
	// accountLocks keep a renew checkout from racing other checkouts of the
	// same account, and a rotation from handing out the old credential;
	// aliasLocks do the latter for checkouts through an alias (see
	// lockAliases). An account lock is always taken before an alias lock.
	locks        []*locksutil.LockEntry
	accountLocks []*locksutil.LockEntry
	aliasLocks   []*locksutil.LockEntry

	// zone is the offset of Password Safe's dates without a zone, as
	// learned for the current config (see zone.go).
	zone zoneMemo

	// secretsSafe are the Secrets Safe reads' knobs (zero: the defaults).
	secretsSafe secretsSafeKnobs
}

// New returns the engine of a mount hosted by host, whose WAL entries are
// rolled back once walRollbackMinAge old (0: the default).
func New(host Host, walRollbackMinAge time.Duration) *Engine {
	if walRollbackMinAge <= 0 {
		walRollbackMinAge = DefaultWALRollbackMinAge
	}
	b := &Engine{
		host:               host,
		now:                time.Now,
		approvalPoll:       time.Second,
		pendingClaimWindow: time.Hour,
		sweepEvery:         time.Hour,
		walRollbackMinAge:  walRollbackMinAge,
		successorWait:      defaultSuccessorWait,
		sleep:              sleepCtx,
		cache:              newCache(),
		locks:              requestLocks(),
		accountLocks:       locksutil.CreateLocks(),
		aliasLocks:         locksutil.CreateLocks(),
		metrics:            client.NewMetrics(),
	}
	b.resolveRunAs = b.defaultResolveRunAs
	b.sessions = newSessions(b.Logger, defaultMaxSessions)
	return b
}

// Logger is the mount's logger.
func (b *Engine) Logger() hclog.Logger { return b.host.Logger() }

// System is the mount's view of Vault.
func (b *Engine) System() logical.SystemView { return b.host.System() }

// Now is the engine's clock.
func (b *Engine) Now() time.Time { return b.now() }

// lockAccount is the lock of one run-as user's checkouts of one account.
func (b *Engine) lockAccount(runAs string, accountID int) *locksutil.LockEntry {
	return locksutil.LockForKey(b.accountLocks, strings.ToLower(runAs)+"/"+strconv.Itoa(accountID))
}

// lockAliases is the lock of one run-as user's checkouts through any
// alias. Such a checkout holds it shared, and a rotation of any account by
// that user exclusively: an alias may have been re-pointed since its role
// was written, so neither side knows, without asking Password Safe, which
// account the checkout's request will be of. Rotations are rare and short,
// so holding back every alias checkout of the user costs little; the
// account lock alone would let one through with the old credential.
func (b *Engine) lockAliases(runAs string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.aliasLocks, strings.ToLower(runAs))
}

// Invalidate drops what the engine caches of a storage key another node
// wrote (config: every upstream session goes with it).
func (b *Engine) Invalidate(ctx context.Context, key string) {
	switch {
	case key == ConfigKey:
		b.cache.dropConfig()
		b.sessions.reset(ctx)
	case strings.HasPrefix(key, RolePrefix):
		b.cache.dropRole(strings.TrimPrefix(key, RolePrefix))
	}
}

// Close sends the queued events and signs every upstream session out.
func (b *Engine) Close(ctx context.Context) {
	b.events.stop(5 * time.Second)
	b.sessions.reset(ctx)
}

// WALRollbackMinAge is how old a checkout's WAL entry must be before
// rollback may finish it.
func (b *Engine) WALRollbackMinAge() time.Duration { return b.walRollbackMinAge }
