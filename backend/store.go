package backend

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// cache holds the decoded config and roles so a creds read costs no storage
// read and no JSON decoding. Writes through this backend and Invalidate
// (writes on other nodes) drop entries; a load racing with a drop is not
// cached (generation check).
type cache struct {
	mu       sync.RWMutex
	gen      uint64
	cfg      *Config
	cfgValid bool
	roles    map[string]*Role
}

func newCache() *cache { return &cache{roles: map[string]*Role{}} }

func (c *cache) dropConfig() {
	c.mu.Lock()
	c.gen++
	c.cfg, c.cfgValid = nil, false
	c.mu.Unlock()
}

func (c *cache) dropRole(name string) {
	c.mu.Lock()
	c.gen++
	delete(c.roles, name)
	c.mu.Unlock()
}

// Config returns the stored config, nil when there is none. The result is
// shared: callers must not modify it.
func (b *Engine) Config(ctx context.Context, s logical.Storage) (*Config, error) {
	b.cache.mu.RLock()
	cfg, ok, gen := b.cache.cfg, b.cache.cfgValid, b.cache.gen
	b.cache.mu.RUnlock()
	if ok {
		return cfg, nil
	}
	e, err := s.Get(ctx, ConfigKey)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if e != nil {
		cfg = new(Config)
		if err := e.DecodeJSON(cfg); err != nil {
			return nil, fmt.Errorf("decoding config: %w", err)
		}
	}
	b.cache.mu.Lock()
	if b.cache.gen == gen {
		b.cache.cfg, b.cache.cfgValid = cfg, true
	}
	b.cache.mu.Unlock()
	return cfg, nil
}

// SaveConfig stores cfg and starts a new session generation: every session
// of the old config is dropped and signed out. A verified client (signed in
// as cfg.RunAs while checking cfg) becomes the first session of the new one.
func (b *Engine) SaveConfig(ctx context.Context, s logical.Storage, cfg *Config, verified *client.Client) error {
	e, err := logical.StorageEntryJSON(ConfigKey, cfg)
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	if err := s.Put(ctx, e); err != nil {
		return fmt.Errorf("storing config: %w", err)
	}
	b.cache.dropConfig()
	b.sessions.reset(ctx)
	if verified != nil {
		b.sessions.put(b.sessions.generation(), sessionKey(cfg, cfg.RunAs), verified)
	}
	return nil
}

// DeleteConfig removes the config and signs out every session.
func (b *Engine) DeleteConfig(ctx context.Context, s logical.Storage) error {
	if err := s.Delete(ctx, ConfigKey); err != nil {
		return fmt.Errorf("deleting config: %w", err)
	}
	b.cache.dropConfig()
	b.sessions.reset(ctx)
	return nil
}

// NewClient builds an unshared client for cfg as runAs. It uses the limiter
// the next session generation will share (see sessions.stage).
func (b *Engine) NewClient(cfg *Config, runAs string) (*client.Client, error) {
	cc := b.clientConfig(cfg, runAs)
	cc.Limiter = b.sessions.stage(cfg.MaxConcurrentRequests)
	return client.New(cc)
}

// clientConfig is cfg's client config for runAs, with the test options.
func (b *Engine) clientConfig(cfg *Config, runAs string) client.Config {
	cc := cfg.ClientConfig(runAs)
	cc.Metrics = b.metrics
	if b.clientOptions != nil {
		b.clientOptions(&cc)
	}
	return cc
}

// sessionKey names the session of runAs (OAuth configs have one user).
func sessionKey(cfg *Config, runAs string) string {
	if cfg.OAuth() {
		return ""
	}
	return runAs
}

// Client returns the shared session of the current config acting as runAs.
func (b *Engine) Client(ctx context.Context, s logical.Storage, runAs string) (*client.Client, error) {
	gen := b.sessions.generation()
	cfg, err := b.Config(ctx, s)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, ErrNotConfigured
	}
	return b.sessions.get(gen, sessionKey(cfg, runAs), cfg.MaxConcurrentRequests, func(l *client.Limiter) (*client.Client, error) {
		cc := b.clientConfig(cfg, runAs)
		cc.Limiter = l
		return client.New(cc)
	})
}

// Role returns the named role, nil when there is none. The result is
// shared: callers must not modify it.
func (b *Engine) Role(ctx context.Context, s logical.Storage, name string) (*Role, error) {
	b.cache.mu.RLock()
	r, ok := b.cache.roles[name]
	gen := b.cache.gen
	b.cache.mu.RUnlock()
	if ok {
		return r, nil
	}
	e, err := s.Get(ctx, RolePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("reading role %q: %w", name, err)
	}
	if e == nil {
		return nil, nil
	}
	r = new(Role)
	if err := e.DecodeJSON(r); err != nil {
		return nil, fmt.Errorf("decoding role %q: %w", name, err)
	}
	b.cache.mu.Lock()
	if b.cache.gen == gen {
		b.cache.roles[name] = r
	}
	b.cache.mu.Unlock()
	return r, nil
}

// SaveRole stores r under its name.
func (b *Engine) SaveRole(ctx context.Context, s logical.Storage, r *Role) error {
	e, err := logical.StorageEntryJSON(RolePrefix+r.Name, r)
	if err != nil {
		return fmt.Errorf("encoding role: %w", err)
	}
	if err := s.Put(ctx, e); err != nil {
		return fmt.Errorf("storing role %q: %w", r.Name, err)
	}
	b.cache.dropRole(r.Name)
	return nil
}

// DeleteRole removes the named role. Live leases of it keep working: their
// renew and revoke need only what the lease itself carries.
func (b *Engine) DeleteRole(ctx context.Context, s logical.Storage, name string) error {
	if err := s.Delete(ctx, RolePrefix+name); err != nil {
		return fmt.Errorf("deleting role %q: %w", name, err)
	}
	b.cache.dropRole(name)
	return nil
}

// Held counts what this mount holds in Password Safe: it lists the
// mount's records, queued check-ins and WAL entries (config writes only; its cost grows with them).
func (b *Engine) Held(ctx context.Context, s logical.Storage) (Held, error) {
	var h Held
	recs, err := s.List(ctx, recordPrefix)
	if err != nil {
		return h, fmt.Errorf("listing held requests: %w", err)
	}
	q, err := s.List(ctx, queuePrefix)
	if err != nil {
		return h, fmt.Errorf("listing queued check-ins: %w", err)
	}
	w, err := framework.ListWAL(ctx, s)
	if err != nil {
		return h, fmt.Errorf("listing WAL entries: %w", err)
	}
	h.Requests, h.Queued, h.Unfinished = len(recs), len(q), len(w)
	return h, nil
}

// EndedUpstream notes that request id was ended through this mount (an
// operator's check-in): its leases can no longer be renewed.
func (b *Engine) EndedUpstream(ctx context.Context, s logical.Storage, id int) {
	b.markEnded(ctx, s, id)
}
