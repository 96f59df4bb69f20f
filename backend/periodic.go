package backend

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// sweepGrace is how long past its expiry a record may stay before the sweep
// forgets it (Vault's own revocation normally removes it first).
const sweepGrace = time.Hour

// periodic runs on Vault's rollback tick (about once a minute) on the active
// node: it reconciles requests recorded as pending and, now and then, sweeps
// records of requests that have long expired.
func (b *Backend) periodic(ctx context.Context, req *logical.Request) error {
	if b.System() != nil && !b.WriteSafeReplicationState() {
		return nil
	}
	err := b.reconcilePending(ctx, req.Storage)
	b.sweepMu.Lock()
	due := b.now().Sub(b.lastSweep) >= b.sweepEvery
	if due {
		b.lastSweep = b.now()
	}
	b.sweepMu.Unlock()
	if due {
		err = errors.Join(err, b.sweep(ctx, req.Storage))
	}
	return err
}

// reconcilePending looks at every request recorded as pending, with one
// GET Requests per run-as user: ended ones (denied, expired, checked in) are
// forgotten; approved ones nobody claimed within pendingClaimWindow of their
// approval (or at once, for orphans found by rollback) are checked in;
// still pending ones are left alone.
func (b *Backend) reconcilePending(ctx context.Context, s logical.Storage) error {
	keys, err := s.List(ctx, pendingPrefix)
	if err != nil {
		return err
	}
	byRunAs := map[string][]int{}
	for _, k := range keys {
		id, err := strconv.Atoi(strings.TrimSuffix(k, "/"))
		if err != nil {
			continue
		}
		rec, err := b.loadRecord(ctx, s, id)
		if err != nil {
			return err
		}
		if rec == nil || rec.pendingHolders() == 0 {
			_ = s.Delete(ctx, pendingPrefix+k)
			continue
		}
		byRunAs[rec.RunAs] = append(byRunAs[rec.RunAs], id)
	}
	var errs []error
	for runAs, ids := range byRunAs {
		cl, err := b.Client(ctx, s, runAs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list, err := cl.ListRequests(ctx, "all", "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		upstream := make(map[int]client.Request, len(list))
		for _, r := range list {
			upstream[r.RequestID] = r
		}
		for _, id := range ids {
			r, found := upstream[id]
			if err := b.reconcileOne(ctx, s, id, r, found); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) reconcileOne(ctx context.Context, s logical.Storage, id int, r client.Request, found bool) error {
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	rec, err := b.loadRecord(ctx, s, id)
	if err != nil || rec == nil {
		return err
	}
	now := b.now()
	var expired []string
	for k, h := range rec.Holders {
		if !h.Pending {
			continue
		}
		switch {
		case !found:
			expired = append(expired, k) // ended upstream: forget
		case isPendingStatus(r.Status):
			// still waiting for an approver
		default:
			since := h.Since
			if r.ApprovedDate != nil {
				since = *r.ApprovedDate
			}
			if h.Orphan || now.Sub(since) >= b.pendingClaimWindow {
				expired = append(expired, k)
			}
		}
	}
	if len(expired) == 0 {
		return nil
	}
	for _, k := range expired {
		delete(rec.Holders, k)
	}
	if len(rec.Holders) == 0 && found && !rec.Ended {
		if err := b.checkin(ctx, s, rec.RunAs, id, "vault: approved request was never claimed"); err != nil {
			return err
		}
		b.Logger().Info("checked in an approved request nobody claimed", "request_id", id, "run_as", rec.RunAs)
	}
	return b.saveOrDelete(ctx, s, rec, true)
}

// sweep forgets records of requests that expired more than sweepGrace ago
// and hold no pending claim: Password Safe has ended them, and a lease on
// them (if Vault still has one) revokes as "already ended" (404).
func (b *Backend) sweep(ctx context.Context, s logical.Storage) error {
	keys, err := s.List(ctx, recordPrefix)
	if err != nil {
		return err
	}
	cutoff := b.now().Add(-sweepGrace)
	for _, k := range keys {
		id, err := strconv.Atoi(k)
		if err != nil {
			continue
		}
		lock := b.lockRequest(id)
		lock.Lock()
		rec, err := b.loadRecord(ctx, s, id)
		if err == nil && rec != nil && !rec.ExpiresAt.IsZero() && rec.ExpiresAt.Before(cutoff) && rec.pendingHolders() == 0 {
			err = b.dropRecord(ctx, s, id, true)
		}
		lock.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}
