// Package backend is the life of the Password Safe secrets engine: the
// Factory, the Backend, upstream sessions per run-as user, config and role
// caches with invalidation, the lease secret (a lease is a Password Safe
// release request: Renew, Revoke), the WAL that keeps crashes from leaking
// requests, and the periodic reconciliation of pending requests.
package backend

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/paths"
)

// DefaultVersion is reported when the build sets no version.
const DefaultVersion = "v0.0.0-dev"

const backendHelp = `
The Password Safe secrets engine checks privileged credentials out of
BeyondTrust Password Safe. Reading creds/<role> creates a Password Safe
release request and returns the credential under a Vault lease; renewing the
lease extends it up to the request's expiry, and revoking it (or its expiry)
checks the request in, rotating the credential when the role says so.

Configure the connection at config, define what to check out at roles/<name>,
then read creds/<name>.
`

// Backend is the engine. Its zero value is not usable; use New or Factory.
type Backend struct {
	*framework.Backend

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

	// clientOptions, when set, adjusts every upstream client's config before
	// it is built (tests: an HTTP client that can fail like a crashed
	// process, fast retries).
	clientOptions func(*client.Config)

	// resolveRunAs is the single hook that decides the run-as user (see runas.go).
	resolveRunAs func(ctx context.Context, req *logical.Request, cfg *paths.Config, role *paths.Role) (string, error)

	cache    *cache    // config and roles
	sessions *sessions // upstream sessions per (config generation, run-as)
	events   events    // Vault events, sent in the background
	// locks guard each request's record and holders; accountLocks keep a
	// renew checkout from racing other checkouts of the same account.
	locks        []*locksutil.LockEntry
	accountLocks []*locksutil.LockEntry
	secret       *framework.Secret
	ttls         ttlCache // the mount's lease TTLs (see ttl.go)
}

var _ paths.Env = (*Backend)(nil)

// Factory is the logical.Factory with the default version.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	return NewFactory(DefaultVersion)(ctx, conf)
}

// NewFactory returns a logical.Factory whose backends report version as
// their RunningVersion (main passes the version set at build time).
func NewFactory(version string) logical.Factory {
	return func(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
		b := New(version)
		if err := b.applyMountOptions(conf.Config); err != nil {
			return nil, err
		}
		if err := b.Setup(ctx, conf); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// New returns an unconfigured backend (call Setup, or use NewFactory).
func New(version string) *Backend {
	if !ValidVersion(version) {
		version = DefaultVersion
	}
	b := &Backend{
		now:                time.Now,
		approvalPoll:       time.Second,
		pendingClaimWindow: time.Hour,
		sweepEvery:         time.Hour,
		cache:              newCache(),
		locks:              locksutil.CreateLocks(),
		accountLocks:       locksutil.CreateLocks(),
		ttls:               ttlCache{maxAge: defaultTTLCacheFor},
	}
	b.resolveRunAs = b.defaultResolveRunAs
	b.sessions = newSessions(func() hclog.Logger { return b.Logger() }, defaultMaxSessions)
	b.secret = b.credsSecret()
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{paths.ConfigKey},
			LocalStorage:    localPrefixes,
		},
		// creds first: the framework tries path patterns in order, and
		// creds/ is the hot path.
		Paths: framework.PathAppend(
			paths.CredsPaths(b),
			paths.ConfigPaths(b),
			paths.RolePaths(b),
			paths.RequestPaths(b),
			paths.AliasPaths(b),
			paths.AccountPaths(b),
		),
		Secrets:           []*framework.Secret{b.secret},
		WALRollback:       b.walRollback,
		WALRollbackMinAge: walRollbackMinAge,
		PeriodicFunc:      b.periodic,
		Invalidate:        b.invalidate,
		Clean:             b.clean,
		RunningVersion:    version,
	}
	return b
}

// lockAccount is the lock of one run-as user's checkouts of one account.
func (b *Backend) lockAccount(runAs string, accountID int) *locksutil.LockEntry {
	return locksutil.LockForKey(b.accountLocks, strings.ToLower(runAs)+"/"+strconv.Itoa(accountID))
}

// Logger, System and Now make Backend a paths.Env.
func (b *Backend) Now() time.Time { return b.now() }

func (b *Backend) invalidate(ctx context.Context, key string) {
	switch {
	case key == paths.ConfigKey:
		b.cache.dropConfig()
		b.sessions.reset(ctx)
	case strings.HasPrefix(key, paths.RolePrefix):
		b.cache.dropRole(strings.TrimPrefix(key, paths.RolePrefix))
	}
}

func (b *Backend) clean(ctx context.Context) {
	b.events.stop(5 * time.Second)
	b.sessions.reset(ctx)
}

var semverRe = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// ValidVersion reports whether v is semver as Vault's plugin catalog wants
// it (with or without the leading v).
func ValidVersion(v string) bool { return semverRe.MatchString(v) }
