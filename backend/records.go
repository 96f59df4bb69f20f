package backend

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// Storage layout of live requests (besides config, roles/ and wal/). All of
// it is local to the cluster (PathsSpecial.LocalStorage), like the leases
// it backs.
//
//	leases/<request id>              record: the request, and how many hold it
//	holders/<request id>/<holder id> one holder: a lease, or a pending claim
//	pending/<request id>             marker: the request has pending holders;
//	                                 the periodic func walks only these
//	checkin/<request id>             a check-in Password Safe could not take
//	                                 yet; the periodic func retries it
//
// A holder has a key of its own, so a checkout or revoke writes the same
// amount whatever the number of holders of a shared (reuse) request.
const (
	recordPrefix  = "leases/"
	holderPrefix  = "holders/"
	pendingPrefix = "pending/"
	queuePrefix   = "checkin/"
)

// LocalPrefixes are kept out of performance replication: leases, and the
// state behind them, belong to the cluster that issued them.
var LocalPrefixes = []string{"wal/", recordPrefix, holderPrefix, pendingPrefix, queuePrefix}

// record is what the engine knows of one Password Safe request it holds.
// Every change happens under the request's lock (lockRequest).
type record struct {
	RequestID int    `json:"request_id"`
	RunAs     string `json:"run_as"`
	Role      string `json:"role"`
	SystemID  int    `json:"system_id"`
	AccountID int    `json:"account_id"`
	AliasID   int    `json:"alias_id,omitempty"`
	// AccountKnown: for a request made through an alias, AccountID is the
	// one Password Safe named (with the credential, or in GET Requests),
	// not the role's: the alias may have been re-pointed since the role
	// was written. Until then a rotation counts it on any account.
	AccountKnown bool      `json:"account_known,omitempty"`
	SystemName   string    `json:"system_name,omitempty"`
	AccountName  string    `json:"account_name,omitempty"`
	DomainName   string    `json:"domain_name,omitempty"`
	Created      bool      `json:"created"`    // this engine created it (201), not reused (200), or a revoke here committed to ending it (see hold)
	ExpiresAt    time.Time `json:"expires_at"` // when the lease's request ends, as far as known
	// Latest bounds when the request could still be active: a request made
	// now may wait for approval up to its duration, then run for its
	// duration. Recovery forgets a request only past it.
	Latest time.Time `json:"latest,omitempty"`
	// Ended: the request was ended upstream on purpose (an operator's
	// check-in through this mount, or a renew hand-over): its last holder
	// leaving needs no check-in, and its leases cannot be renewed.
	Ended bool `json:"ended,omitempty"`
	// Rotates: rotation on check-in is known to be on (sent with the POST
	// that created it, or ensured with PUT RotateOnCheckin when reused).
	Rotates bool `json:"rotates,omitempty"`
	// MadeFrom and MadeBy: when, by the engine's clock, it created the
	// request (before the POST, and its answer). Its release date, read
	// back, tells the offset of a server writing dates without a zone (see
	// zone.go); zero when not seen (reused, or found by rollback).
	MadeFrom time.Time `json:"made_from,omitempty"`
	MadeBy   time.Time `json:"made_by,omitempty"`
	// Count is how many holder keys there are, never more: a key is written
	// before the count goes up and the count goes down before the key is
	// deleted, so a crash between the two only leaves it low. A positive
	// count proves the request is held; zero is confirmed by listing.
	Count int `json:"holder_count"`
	// Legacy holds the holders of records written before holders had keys
	// of their own; getRecord moves them out.
	Legacy map[string]*holder `json:"holders,omitempty"`
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
	Orphan          bool          `json:"orphan,omitempty"` // left by a failed checkout: nobody may claim it
	TTL             time.Duration `json:"ttl,omitempty"`
	MaxTTL          time.Duration `json:"max_ttl,omitempty"`
	RoleTTL         time.Duration `json:"role_ttl,omitempty"`
	CredentialTypes []string      `json:"credential_types,omitempty"`
}

// until is the latest the request could be active (zero: unknown).
func (r *record) until() time.Time {
	if r.Latest.After(r.ExpiresAt) {
		return r.Latest
	}
	return r.ExpiresAt
}

// onAccount says whether the request may be of account id: a request made
// through an alias is of the account the alias mapped to then, unknown
// until Password Safe names it.
func (r *record) onAccount(id int) bool {
	return r.AccountID == id || (r.AliasID != 0 && !r.AccountKnown)
}

// knowAccount records the account Password Safe named for an alias
// request's credential.
func (r *record) knowAccount(c *Credential) {
	if r.AliasID != 0 && c.AccountID != 0 {
		r.SystemID, r.AccountID, r.AccountKnown = c.SystemID, c.AccountID, true
	}
}

// made is when the engine made the request (see MadeFrom).
func (r *record) made() made { return made{From: r.MadeFrom, By: r.MadeBy} }

// extend moves the record's known end to t when t is later.
func (r *record) extend(t time.Time) {
	r.ExpiresAt = t
	if t.After(r.Latest) {
		r.Latest = t
	}
}

func recordKey(id int) string           { return recordPrefix + strconv.Itoa(id) }
func holdersKey(id int) string          { return holderPrefix + strconv.Itoa(id) + "/" }
func holderKey(id int, h string) string { return holdersKey(id) + h }
func pendingKey(id int) string          { return pendingPrefix + strconv.Itoa(id) }
func queueKey(id int) string            { return queuePrefix + strconv.Itoa(id) }

// requestLockCount is the number of request locks. A revoke holds its
// request's lock across the check-in (an upstream call), so requests that
// share a lock wait for each other's check-ins: with locksutil's 256 locks,
// a revocation storm (Vault revokes up to 180 leases at once) found about a
// quarter of its revokes waiting on a lock held for another request.
const requestLockCount = 4096

func requestLocks() []*locksutil.LockEntry {
	ls := make([]*locksutil.LockEntry, requestLockCount)
	for i := range ls {
		ls[i] = new(locksutil.LockEntry)
	}
	return ls
}

// lockRequest is the lock of one request's record and holders. Password
// Safe numbers requests in sequence, so IDs spread evenly over the locks.
func (b *Engine) lockRequest(id int) *locksutil.LockEntry {
	i := id % requestLockCount
	if i < 0 {
		i += requestLockCount
	}
	return b.locks[i]
}

// getRecord reads the record of id (nil when none). Callers hold the
// request's lock: an old record is migrated (written) on the way.
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
	if len(r.Legacy) > 0 {
		if err := migrateRecord(ctx, s, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// migrateRecord gives each holder of an old record a key of its own.
func migrateRecord(ctx context.Context, s logical.Storage, r *record) error {
	for hid, h := range r.Legacy {
		if err := putHolder(ctx, s, r.RequestID, hid, h); err != nil {
			return err
		}
	}
	r.Count, r.Legacy = len(r.Legacy), nil
	return putRecord(ctx, s, r)
}

func putRecord(ctx context.Context, s logical.Storage, r *record) error {
	e, err := logical.StorageEntryJSON(recordKey(r.RequestID), r)
	if err != nil {
		return fmt.Errorf("encoding record of request %d: %w", r.RequestID, err)
	}
	if err := s.Put(ctx, e); err != nil {
		return fmt.Errorf("storing record of request %d: %w", r.RequestID, err)
	}
	return nil
}

// deleteRecord deletes the record of id and its pending marker.
func deleteRecord(ctx context.Context, s logical.Storage, id int) error {
	if err := s.Delete(ctx, recordKey(id)); err != nil {
		return fmt.Errorf("deleting record of request %d: %w", id, err)
	}
	if err := s.Delete(ctx, pendingKey(id)); err != nil {
		return fmt.Errorf("deleting pending marker of request %d: %w", id, err)
	}
	return nil
}

func getHolder(ctx context.Context, s logical.Storage, id int, hid string) (*holder, error) {
	if hid == "" {
		return nil, nil
	}
	e, err := s.Get(ctx, holderKey(id, hid))
	if err != nil {
		return nil, fmt.Errorf("reading a holder of request %d: %w", id, err)
	}
	if e == nil {
		return nil, nil
	}
	h := new(holder)
	if err := json.Unmarshal(e.Value, h); err != nil {
		return nil, fmt.Errorf("decoding a holder of request %d: %w", id, err)
	}
	return h, nil
}

func putHolder(ctx context.Context, s logical.Storage, id int, hid string, h *holder) error {
	e, err := logical.StorageEntryJSON(holderKey(id, hid), h)
	if err != nil {
		return fmt.Errorf("encoding a holder of request %d: %w", id, err)
	}
	if err := s.Put(ctx, e); err != nil {
		return fmt.Errorf("storing a holder of request %d: %w", id, err)
	}
	return nil
}

func listHolders(ctx context.Context, s logical.Storage, id int) ([]string, error) {
	keys, err := s.List(ctx, holdersKey(id))
	if err != nil {
		return nil, fmt.Errorf("listing holders of request %d: %w", id, err)
	}
	return keys, nil
}

// addHolder records h as a holder of rec's request (the record is stored).
func addHolder(ctx context.Context, s logical.Storage, rec *record, hid string, h *holder) error {
	if err := putHolder(ctx, s, rec.RequestID, hid, h); err != nil {
		return err
	}
	rec.Count++
	return putRecord(ctx, s, rec)
}

// removeHolder drops hid from rec's request (the record is stored).
func removeHolder(ctx context.Context, s logical.Storage, rec *record, hid string) error {
	if rec.Count > 0 {
		rec.Count--
		if err := putRecord(ctx, s, rec); err != nil {
			return err
		}
	}
	if err := s.Delete(ctx, holderKey(rec.RequestID, hid)); err != nil {
		return fmt.Errorf("deleting a holder of request %d: %w", rec.RequestID, err)
	}
	return nil
}

// unheld reports whether nobody holds rec's request any more. A positive
// count settles it at no cost; otherwise the holder keys are listed (one
// key or none, except after a crash left the count low, which this repairs).
func unheld(ctx context.Context, s logical.Storage, rec *record) (bool, error) {
	if rec.Count > 0 {
		return false, nil
	}
	keys, err := listHolders(ctx, s, rec.RequestID)
	if err != nil {
		return false, err
	}
	if len(keys) == 0 {
		return true, nil
	}
	rec.Count = len(keys)
	return false, putRecord(ctx, s, rec)
}

// holdersOf reads every holder of id (periodic work and small sets only).
func holdersOf(ctx context.Context, s logical.Storage, id int) (map[string]*holder, error) {
	keys, err := listHolders(ctx, s, id)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*holder, len(keys))
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			continue
		}
		h, err := getHolder(ctx, s, id, k)
		if err != nil {
			return nil, err
		}
		if h != nil {
			out[k] = h
		}
	}
	return out, nil
}

func markPendingIndex(ctx context.Context, s logical.Storage, id int) error {
	return s.Put(ctx, &logical.StorageEntry{Key: pendingKey(id), Value: []byte("{}")})
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

// boundCaller refuses a caller that nothing tells apart from other callers:
// a token with neither an entity nor an accessor (a batch token). Such a
// caller could not be kept from claiming another's request.
func boundCaller(req *logical.Request) error {
	if req.EntityID == "" && req.ClientTokenAccessor == "" {
		return logical.CodedError(403, "this token has neither a Vault identity entity nor a token accessor (a batch token "+
			"without an entity), so nothing ties a Password Safe request to its caller: log in through an auth method "+
			"(tokens with an entity), or use a service token")
	}
	return nil
}

// newHolder is a holder for the caller of req.
func newHolder(req *logical.Request, since time.Time) *holder {
	return &holder{EntityID: req.EntityID, Token: callerToken(req), Since: since}
}

// sameCaller reports whether h was made by the caller of req.
func (h *holder) sameCaller(req *logical.Request) bool {
	return h.EntityID == req.EntityID && h.Token == callerToken(req) && (h.EntityID != "" || h.Token != "")
}
