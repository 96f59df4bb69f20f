package backend

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Storage layout of live requests (besides config, roles/ and wal/):
//
//	leases/<request id>   record: the request and who holds it
//	pending/<request id>  marker: the record has pending holders (approval);
//	                      the periodic func walks only these
const (
	recordPrefix  = "leases/"
	pendingPrefix = "pending/"
)

// record is what the engine knows of one Password Safe request it holds.
// Holders are keyed by holder ID (the ID of the WAL entry of the checkout
// that added it; the lease carries it in its internal data). A request is
// checked in when its last holder goes, so conflict_option=reuse can back
// several leases with one request. Every change happens under the request's
// lock (lockRequest).
type record struct {
	RequestID   int       `json:"request_id"`
	RunAs       string    `json:"run_as"`
	Role        string    `json:"role"`
	SystemID    int       `json:"system_id"`
	AccountID   int       `json:"account_id"`
	AliasID     int       `json:"alias_id,omitempty"`
	SystemName  string    `json:"system_name,omitempty"`
	AccountName string    `json:"account_name,omitempty"`
	DomainName  string    `json:"domain_name,omitempty"`
	Created     bool      `json:"created"`    // this engine created it (201), not reused (200)
	ExpiresAt   time.Time `json:"expires_at"` // zero while pending approval
	// Ended: the request was ended upstream on purpose (replaced by a renew
	// hand-over); its last holder leaving needs no check-in.
	Ended bool `json:"ended,omitempty"`
	// Rotates: rotation on check-in is known to be on (sent with the POST
	// that created it, or ensured with PUT RotateOnCheckin when reused).
	Rotates bool               `json:"rotates,omitempty"`
	Holders map[string]*holder `json:"holders"`
}

type holder struct {
	EntityID string `json:"entity_id,omitempty"`
	// Token identifies a caller without an entity (root, orphan tokens):
	// a hash of its token accessor, since every such caller has the same
	// empty EntityID.
	Token string    `json:"token,omitempty"`
	Since time.Time `json:"since"`
	// Pending: recorded while approval is pending; Claim turns it into a
	// lease. The fields below are what that lease needs.
	Pending         bool          `json:"pending,omitempty"`
	Orphan          bool          `json:"orphan,omitempty"` // found by rollback: nobody may claim it
	TTL             time.Duration `json:"ttl,omitempty"`
	MaxTTL          time.Duration `json:"max_ttl,omitempty"`
	RoleTTL         time.Duration `json:"role_ttl,omitempty"`
	CredentialTypes []string      `json:"credential_types,omitempty"`
}

func (r *record) pendingHolders() int {
	n := 0
	for _, h := range r.Holders {
		if h.Pending {
			n++
		}
	}
	return n
}

func recordKey(id int) string { return recordPrefix + strconv.Itoa(id) }

// requestLocks stripes the per-request locks (cheaper than hashing a key
// per lookup as locksutil does; a collision only serializes two requests).
const requestLocks = 256

func (b *Backend) lockRequest(id int) *sync.Mutex {
	return &b.locks[uint(id)%requestLocks]
}

func getRecord(ctx context.Context, s logical.Storage, id int) (*record, error) {
	e, err := s.Get(ctx, recordKey(id))
	if err != nil {
		return nil, fmt.Errorf("reading record of request %d: %w", id, err)
	}
	if e == nil {
		return nil, nil
	}
	r := new(record)
	if err := json.Unmarshal(e.Value, r); err != nil {
		return nil, fmt.Errorf("decoding record of request %d: %w", id, err)
	}
	if r.Holders == nil {
		r.Holders = map[string]*holder{}
	}
	return r, nil
}

func putRecord(ctx context.Context, s logical.Storage, r *record) error {
	if err := s.Put(ctx, &logical.StorageEntry{Key: recordKey(r.RequestID), Value: marshalRecord(r)}); err != nil {
		return fmt.Errorf("storing record of request %d: %w", r.RequestID, err)
	}
	return nil
}

// recordCache keeps decoded records of this node's live requests, so a
// revoke reads no storage and decodes no JSON. Writes go through it
// (storeRecord, dropRecord); Invalidate drops entries other nodes change.
// Callers always get a copy: they modify records before deciding to store.
type recordCache struct {
	mu sync.Mutex
	m  map[int]*record
}

// maxCachedRecords bounds the cache; past it the cache starts over (records
// are then read from storage again).
const maxCachedRecords = 20000

func (c *recordCache) get(id int) (*record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	if !ok {
		return nil, false
	}
	return r.clone(), true
}

// set caches r, taking ownership: the caller must not modify r afterwards
// (every caller stores a record as its last use of it).
func (c *recordCache) set(r *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedRecords {
		c.m = map[int]*record{}
	}
	c.m[r.RequestID] = r
}

func (c *recordCache) drop(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

func (r *record) clone() *record {
	c := *r
	c.Holders = make(map[string]*holder, len(r.Holders))
	for k, h := range r.Holders {
		hc := *h
		c.Holders[k] = &hc
	}
	return &c
}

// loadRecord is the record of id (nil when none), through the cache.
func (b *Backend) loadRecord(ctx context.Context, s logical.Storage, id int) (*record, error) {
	if r, ok := b.records.get(id); ok {
		return r, nil
	}
	r, err := getRecord(ctx, s, id)
	if err != nil || r == nil {
		return r, err
	}
	b.records.set(r.clone())
	return r, nil
}

func (b *Backend) storeRecord(ctx context.Context, s logical.Storage, r *record) error {
	if err := putRecord(ctx, s, r); err != nil {
		b.records.drop(r.RequestID)
		return err
	}
	b.records.set(r)
	return nil
}

func (b *Backend) dropRecord(ctx context.Context, s logical.Storage, id int, pending bool) error {
	b.records.drop(id)
	return deleteRecord(ctx, s, id, pending)
}

// saveOrDelete stores r, or deletes it (and its pending marker) when it has
// no holders left. clearPending also drops the pending marker when r has no
// pending holder any more.
func (b *Backend) saveOrDelete(ctx context.Context, s logical.Storage, r *record, clearPending bool) error {
	if len(r.Holders) == 0 {
		return b.dropRecord(ctx, s, r.RequestID, clearPending)
	}
	if err := b.storeRecord(ctx, s, r); err != nil {
		return err
	}
	if clearPending && r.pendingHolders() == 0 {
		if err := s.Delete(ctx, pendingPrefix+strconv.Itoa(r.RequestID)); err != nil {
			return fmt.Errorf("deleting pending marker of request %d: %w", r.RequestID, err)
		}
	}
	return nil
}

// deleteRecord deletes the record of id and, with pending, its pending
// marker (pass true unless the record is known to have had no pending holder).
func deleteRecord(ctx context.Context, s logical.Storage, id int, pending bool) error {
	if err := s.Delete(ctx, recordKey(id)); err != nil {
		return fmt.Errorf("deleting record of request %d: %w", id, err)
	}
	if !pending {
		return nil
	}
	if err := s.Delete(ctx, pendingPrefix+strconv.Itoa(id)); err != nil {
		return fmt.Errorf("deleting pending marker of request %d: %w", id, err)
	}
	return nil
}

func markPendingIndex(ctx context.Context, s logical.Storage, id int) error {
	return s.Put(ctx, &logical.StorageEntry{Key: pendingPrefix + strconv.Itoa(id), Value: []byte("{}")})
}

// newID returns a random 128-bit hex ID (WAL entries and holders).
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating an ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// callerToken is what a holder keeps to tell apart callers that have no
// entity: a short hash of the token accessor (not a secret, but it need not
// sit in storage in the clear). Empty for callers with an entity.
func callerToken(req *logical.Request) string {
	if req.EntityID != "" || req.ClientTokenAccessor == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(req.ClientTokenAccessor))
	return hex.EncodeToString(sum[:12])
}

// newHolder is a holder for the caller of req.
func newHolder(req *logical.Request, since time.Time) *holder {
	return &holder{EntityID: req.EntityID, Token: callerToken(req), Since: since}
}
