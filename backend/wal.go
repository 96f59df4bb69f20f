package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// walKindRequest is the WAL kind of a checkout in progress.
const walKindRequest = "passwordsafe-request"

// walRollbackMinAge must be longer than any checkout can take (Vault's
// max_request_duration is 90s by default; approval_wait is capped at 10m),
// so rollback never races a checkout that is still running.
const walRollbackMinAge = 15 * time.Minute

// minWALRollbackMinAge is the least the wal_rollback_min_age mount option
// accepts. A value below walRollbackMinAge is for tests and demos: rollback
// could then race a checkout still waiting for approval or a slow upstream.
const minWALRollbackMinAge = 30 * time.Second

// applyMountOptions reads the mount's options (vault secrets enable
// -options=K=V), which Vault hands to the factory in conf.Config.
func (b *Backend) applyMountOptions(opts map[string]string) error {
	v, ok := opts["wal_rollback_min_age"]
	if !ok || v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minWALRollbackMinAge {
		return fmt.Errorf("mount option wal_rollback_min_age=%q: want a duration of at least %s (default %s)",
			v, minWALRollbackMinAge, walRollbackMinAge)
	}
	b.Backend.WALRollbackMinAge = d
	return nil
}

// rollbackSlack widens the search window of a WAL entry whose request ID
// never arrived, for clock skew between Vault and Password Safe.
const rollbackSlack = 2 * time.Minute

// walRequest is written before POST Requests. Its ID is the holder ID in
// the request's record. RequestID is set only for a reused request (one
// that rollback cannot find by its creation time).
type walRequest struct {
	ID             string    `json:"id"`
	RunAs          string    `json:"run_as"`
	Role           string    `json:"role"`
	SystemID       int       `json:"system_id"`
	AccountID      int       `json:"account_id"`
	AliasID        int       `json:"alias_id,omitempty"`
	ConflictOption string    `json:"conflict_option,omitempty"`
	StartedAt      time.Time `json:"started_at"` // backend clock, before the POST
	RequestID      int       `json:"request_id,omitempty"`
	createdAt      int64     // the WAL entry's own time (framework format)
}

// putWAL writes w as a new WAL entry (framework.WALEntry format, so the
// framework's rollback finds it) and sets w.ID.
func putWAL(ctx context.Context, s logical.Storage, w *walRequest) error {
	id, err := newID()
	if err != nil {
		return err
	}
	w.ID, w.createdAt = id, time.Now().UTC().Unix()
	return writeWAL(ctx, s, w)
}

// updateWAL rewrites w's entry in place (same ID and age) with the request
// ID. framework.PutWAL only appends; one overwrite is cheaper than an append
// and a delete, and keeps the holder ID stable.
func updateWAL(ctx context.Context, s logical.Storage, w *walRequest) error {
	return writeWAL(ctx, s, w)
}

func writeWAL(ctx context.Context, s logical.Storage, w *walRequest) error {
	if err := s.Put(ctx, &logical.StorageEntry{Key: framework.WALPrefix + w.ID, Value: marshalWAL(w)}); err != nil {
		return fmt.Errorf("writing WAL entry: %w", err)
	}
	return nil
}

func deleteWAL(ctx context.Context, s logical.Storage, w *walRequest) error {
	if err := framework.DeleteWAL(ctx, s, w.ID); err != nil {
		return fmt.Errorf("deleting WAL entry: %w", err)
	}
	return nil
}

func decodeWAL(data interface{}) (*walRequest, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	w := new(walRequest)
	if err := json.Unmarshal(raw, w); err != nil {
		return nil, err
	}
	return w, nil
}

// walRollback finishes a checkout that never handed out its lease (crash,
// timeout, storage failure, a failed clean-up check-in). Returning nil lets
// the framework delete the entry; an error keeps it for the next rollback.
func (b *Backend) walRollback(ctx context.Context, req *logical.Request, kind string, data interface{}) error {
	if kind != walKindRequest {
		b.Logger().Warn("dropping WAL entry of unknown kind", "kind", kind)
		return nil
	}
	w, err := decodeWAL(data)
	if err != nil {
		b.Logger().Error("dropping undecodable WAL entry", "error", err)
		return nil
	}
	if w.RequestID != 0 {
		return b.rollbackKnown(ctx, req.Storage, w)
	}
	return b.rollbackUnknown(ctx, req.Storage, w)
}

// rollbackKnown drops the checkout's holder from the request's record and
// checks the request in when nobody else holds it.
func (b *Backend) rollbackKnown(ctx context.Context, s logical.Storage, w *walRequest) error {
	lock := b.lockRequest(w.RequestID)
	lock.Lock()
	defer lock.Unlock()
	rec, err := b.loadRecord(ctx, s, w.RequestID)
	if err != nil {
		return err
	}
	if rec != nil {
		if h, ok := rec.Holders[w.ID]; ok && h.Pending {
			return nil // recorded as pending: the periodic func owns it now
		}
		delete(rec.Holders, w.ID)
		if len(rec.Holders) > 0 {
			return b.saveOrDelete(ctx, s, rec, false)
		}
		if rec.Ended {
			return b.dropRecord(ctx, s, rec.RequestID, true)
		}
	}
	if err := b.checkin(ctx, s, w.RunAs, w.RequestID, "vault: rolling back an unfinished checkout"); err != nil {
		return err
	}
	b.Logger().Info("rolled back an unfinished checkout", "request_id", w.RequestID, "run_as", w.RunAs)
	if rec != nil {
		return b.dropRecord(ctx, s, rec.RequestID, true)
	}
	return nil
}

// rollbackUnknown handles a checkout whose entry has no request ID: the
// POST's answer never arrived, or the checkout created a request and died
// before handing out its lease. It lists the run-as user's requests and
// looks at those on the same account made since the WAL entry (minus clock
// slack): one whose record names this entry as a holder is this checkout's;
// one that no record and no other WAL entry accounts for was created by the
// lost POST. Requests made after a younger WAL entry for the same account
// are left to that entry.
func (b *Backend) rollbackUnknown(ctx context.Context, s logical.Storage, w *walRequest) error {
	from := w.StartedAt.Add(-rollbackSlack)
	var until time.Time
	claimed := map[int]bool{}
	ids, err := framework.ListWAL(ctx, s)
	if err != nil {
		return fmt.Errorf("listing WAL: %w", err)
	}
	for _, id := range ids {
		if id == w.ID {
			continue
		}
		e, err := framework.GetWAL(ctx, s, id)
		if err != nil || e == nil || e.Kind != walKindRequest {
			continue
		}
		o, err := decodeWAL(e.Data)
		if err != nil {
			continue
		}
		if o.RequestID != 0 {
			claimed[o.RequestID] = true
			continue
		}
		if o.RunAs == w.RunAs && o.SystemID == w.SystemID && o.AccountID == w.AccountID &&
			o.StartedAt.After(w.StartedAt) && (until.IsZero() || o.StartedAt.Before(until)) {
			until = o.StartedAt
		}
	}

	cl, err := b.Client(ctx, s, w.RunAs)
	if err != nil {
		return err
	}
	reqs, err := cl.ListRequests(ctx, "all", "")
	if err != nil {
		return fmt.Errorf("listing requests of %q to roll back a checkout: %w", w.RunAs, err)
	}
	for _, r := range reqs {
		if r.SystemID != w.SystemID || r.AccountID != w.AccountID || claimed[r.RequestID] {
			continue
		}
		if w.AliasID != 0 && r.AliasID != 0 && r.AliasID != w.AliasID {
			continue
		}
		if r.RequestReleaseDate == nil || r.RequestReleaseDate.Before(from) ||
			(!until.IsZero() && !r.RequestReleaseDate.Before(until)) {
			continue
		}
		if err := b.rollbackFound(ctx, s, w, r); err != nil {
			return err
		}
	}
	return nil
}

// rollbackFound ends this checkout's hold on one request found by
// rollbackUnknown. A request whose record does not name this entry belongs
// to someone else. One nobody records is checked in, or, while pending (it
// cannot be checked in yet), recorded as an orphan that the periodic func
// checks in once it is approved.
func (b *Backend) rollbackFound(ctx context.Context, s logical.Storage, w *walRequest, r client.Request) error {
	lock := b.lockRequest(r.RequestID)
	lock.Lock()
	defer lock.Unlock()
	rec, err := b.loadRecord(ctx, s, r.RequestID)
	if err != nil {
		return err
	}
	if rec != nil {
		h, ours := rec.Holders[w.ID]
		if !ours || h.Pending {
			return nil // someone else's, or recorded as pending: the periodic func owns it
		}
		delete(rec.Holders, w.ID)
		if len(rec.Holders) > 0 {
			return b.saveOrDelete(ctx, s, rec, false)
		}
		if !rec.Ended {
			if err := b.checkin(ctx, s, w.RunAs, r.RequestID, "vault: rolling back an unfinished checkout"); err != nil {
				return err
			}
			b.Logger().Info("rolled back an unfinished checkout", "request_id", r.RequestID, "run_as", w.RunAs)
		}
		return b.dropRecord(ctx, s, r.RequestID, true)
	}
	if isPendingStatus(r.Status) {
		rec = &record{
			RequestID: r.RequestID, RunAs: w.RunAs, Role: w.Role,
			SystemID: r.SystemID, AccountID: r.AccountID, AliasID: r.AliasID, Created: true,
			SystemName: r.SystemName, AccountName: r.AccountName, DomainName: r.DomainName,
			Holders: map[string]*holder{w.ID: {Since: b.now(), Pending: true, Orphan: true}},
		}
		if err := b.storeRecord(ctx, s, rec); err != nil {
			return err
		}
		return markPendingIndex(ctx, s, r.RequestID)
	}
	if err := b.checkin(ctx, s, w.RunAs, r.RequestID, "vault: rolling back a checkout whose answer was lost"); err != nil {
		return err
	}
	b.Logger().Info("checked in a request whose creation answer was lost", "request_id", r.RequestID, "run_as", w.RunAs)
	return nil
}
