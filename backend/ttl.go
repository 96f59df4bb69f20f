package backend

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// defaultTTLCacheFor bounds how stale the mount's lease TTLs may be. Each is
// a gRPC round trip to Vault (about 0.2 ms) that every checkout would
// otherwise pay twice; a `vault secrets tune` of the TTLs applies within it.
const defaultTTLCacheFor = 5 * time.Second

// ttlView is a SystemView whose lease TTLs are a recent copy.
type ttlView struct {
	logical.SystemView
	def, max time.Duration
}

func (v ttlView) DefaultLeaseTTL() time.Duration { return v.def }
func (v ttlView) MaxLeaseTTL() time.Duration     { return v.max }

type ttlCache struct {
	mu     sync.Mutex
	maxAge time.Duration // 0: no caching (tests that tune the mount)
	view   ttlView
	at     time.Time
}

// leaseSystem is b.System() with the mount's lease TTLs cached for a short while.
func (b *Backend) leaseSystem() logical.SystemView {
	c := &b.ttls
	if c.maxAge <= 0 {
		return b.System()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view.SystemView == nil || time.Since(c.at) >= c.maxAge {
		sys := b.System()
		c.view = ttlView{SystemView: sys, def: sys.DefaultLeaseTTL(), max: sys.MaxLeaseTTL()}
		c.at = time.Now()
	}
	return c.view
}
