package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// SecretType is the lease type of a checked-out credential. A lease of this
// type IS a Password Safe release request: revoking it checks the request in.
const SecretType = "passwordsafe_request"

// Keys of the lease's internal data (JSON round trip: numbers come back as
// float64 or json.Number, see intOf).
const (
	intRequestID = "request_id"
	intHolder    = "holder"
	intRunAs     = "run_as"
	intRole      = "role"
	intExpiresAt = "expires_at" // request expiry, unix seconds (backend clock)
	intIssuedAt  = "issued_at"  // unix seconds (backend clock)
	intMaxTTL    = "max_ttl"    // lease max TTL in seconds from issued_at
	intTTL       = "ttl"        // renew increment in seconds (0 = mount default)
)

func (b *Backend) credsSecret() *framework.Secret {
	return &framework.Secret{
		Type: SecretType,
		Fields: map[string]*framework.FieldSchema{
			"username":     {Type: framework.TypeString, Description: "The account name."},
			"domain":       {Type: framework.TypeString, Description: "The account's domain, empty for local accounts."},
			"password":     {Type: framework.TypeString, Description: "The account's password."},
			"private_key":  {Type: framework.TypeString, Description: "The account's DSS/SSH private key, when the role asks for dsskey."},
			"passphrase":   {Type: framework.TypeString, Description: "The private key's passphrase, when the role asks for passphrase."},
			"request_id":   {Type: framework.TypeInt, Description: "The Password Safe release request backing this lease."},
			"system_name":  {Type: framework.TypeString, Description: "The managed system."},
			"account_name": {Type: framework.TypeString, Description: "The managed account."},
			"expires_at":   {Type: framework.TypeTime, Description: "When the Password Safe request expires; the lease never outlives it."},
		},
		Renew:  b.renew,
		Revoke: b.revoke,
	}
}

// leaseInfo is the lease's internal data, decoded.
type leaseInfo struct {
	RequestID int
	Holder    string
	RunAs     string
	Role      string
	ExpiresAt time.Time
	IssuedAt  time.Time
	MaxTTL    time.Duration
	TTL       time.Duration
}

func (li *leaseInfo) internal() map[string]interface{} {
	return map[string]interface{}{
		"secret_type": SecretType, // what framework.Secret.Response adds
		intRequestID:  li.RequestID,
		intHolder:     li.Holder,
		intRunAs:      li.RunAs,
		intRole:       li.Role,
		intExpiresAt:  li.ExpiresAt.Unix(),
		intIssuedAt:   li.IssuedAt.Unix(),
		intMaxTTL:     int64(li.MaxTTL / time.Second),
		intTTL:        int64(li.TTL / time.Second),
	}
}

func leaseInfoFrom(s *logical.Secret) (*leaseInfo, error) {
	if s == nil {
		return nil, errors.New("request has no lease")
	}
	d := s.InternalData
	li := &leaseInfo{}
	var ok bool
	if li.RequestID, ok = intOf(d[intRequestID]); !ok || li.RequestID <= 0 {
		return nil, errors.New("lease has no Password Safe request ID")
	}
	li.Holder, _ = d[intHolder].(string)
	li.RunAs, _ = d[intRunAs].(string)
	li.Role, _ = d[intRole].(string)
	exp, _ := intOf(d[intExpiresAt])
	iss, _ := intOf(d[intIssuedAt])
	maxTTL, _ := intOf(d[intMaxTTL])
	ttl, _ := intOf(d[intTTL])
	li.ExpiresAt = time.Unix(int64(exp), 0)
	li.IssuedAt = time.Unix(int64(iss), 0)
	li.MaxTTL = time.Duration(maxTTL) * time.Second
	li.TTL = time.Duration(ttl) * time.Second
	return li, nil
}

// intOf reads a number that went through JSON (float64, json.Number) or not.
func intOf(v interface{}) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return int(i), err == nil
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

// renew extends the lease by its TTL (or the requested increment, which
// Vault applies), never past the lease's max TTL and never past the
// request's expiry: a lease never promises time the request does not have.
// A lease whose request has ended cannot be renewed: the engine's record
// says so when the end went through this mount (revoke, an operator's
// check-in, a hand-over), and Password Safe says so otherwise (one GET
// Requests: a check-in by a person in Password Safe). When Password Safe
// cannot be asked, the record decides.
func (b *Backend) renew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	li, err := leaseInfoFrom(req.Secret)
	if err != nil {
		return nil, err
	}
	ended := func(why string) error {
		return logical.CodedError(http.StatusBadRequest, fmt.Sprintf(
			"cannot renew: Password Safe request %d %s; read a new credential", li.RequestID, why))
	}
	lock := b.lockRequest(li.RequestID)
	lock.Lock() // getRecord may migrate an old record: a write
	rec, err := getRecord(ctx, req.Storage, li.RequestID)
	var h *holder
	if err == nil && rec != nil && li.Holder != "" {
		h, err = getHolder(ctx, req.Storage, li.RequestID, li.Holder)
	}
	lock.Unlock()
	switch {
	case err != nil:
		return nil, err
	case rec == nil || (li.Holder != "" && h == nil):
		return nil, ended("has ended (checked in, or released by this lease)")
	case rec.Ended:
		return nil, ended("was ended early (checked in by an operator, or replaced by a new request)")
	}
	end := li.ExpiresAt
	if cl, err := b.Client(ctx, req.Storage, li.RunAs); err == nil {
		if r, found, err := findRequest(ctx, cl, li.RequestID); err == nil {
			if !found {
				b.markEnded(ctx, req.Storage, li.RequestID)
				return nil, ended("has ended in Password Safe (checked in there, or expired)")
			}
			if r.ExpiresDate != nil && r.ExpiresDate.Before(end) {
				end = *r.ExpiresDate
			}
		} else {
			b.Logger().Warn("could not ask Password Safe whether a renewed lease's request is still active; renewing on the engine's record",
				"request_id", li.RequestID, "error", err)
		}
	}
	now := b.now()
	if li.MaxTTL > 0 {
		if e := li.IssuedAt.Add(li.MaxTTL); e.Before(end) {
			end = e
		}
	}
	left := end.Sub(now).Truncate(time.Second)
	if left <= 0 {
		return nil, ended("ends at " + li.ExpiresAt.UTC().Format(time.RFC3339))
	}
	ttl := li.TTL
	if req.Secret.Increment > 0 {
		ttl = req.Secret.Increment
	}
	if ttl <= 0 {
		ttl = b.leaseSystem().DefaultLeaseTTL()
	}
	if ttl > left {
		ttl = left
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = li.MaxTTL
	return resp, nil
}

// findRequest looks request id up among the run-as user's open requests.
func findRequest(ctx context.Context, cl *client.Client, id int) (client.Request, bool, error) {
	reqs, err := cl.ListRequests(ctx, "all", "")
	if err != nil {
		return client.Request{}, false, err
	}
	for _, r := range reqs {
		if r.RequestID == id {
			return r, true, nil
		}
	}
	return client.Request{}, false, nil
}

// markEnded notes that request id has ended upstream by other means than
// this engine's check-in: its leases cannot be renewed, its pending claims
// are void, and its last holder's revoke needs no check-in. Best effort.
func (b *Backend) markEnded(ctx context.Context, s logical.Storage, id int) {
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	err := s.Delete(ctx, queueKey(id))
	rec, gerr := getRecord(ctx, s, id)
	if err == nil {
		err = gerr
	}
	if err == nil && rec != nil {
		b.Logger().Debug("request ended upstream", "request_id", id)
		rec.Ended = true
		err = b.dropPending(ctx, s, rec)
	}
	if err != nil {
		b.Logger().Warn("could not note that a request has ended", "request_id", id, "error", err)
	}
}

// dropPending removes the pending holders of an ended request (under its
// lock), and the record when nobody else holds it.
func (b *Backend) dropPending(ctx context.Context, s logical.Storage, rec *record) error {
	hs, err := holdersOf(ctx, s, rec.RequestID)
	if err != nil {
		return err
	}
	if err := putRecord(ctx, s, rec); err != nil {
		return err
	}
	for hid, h := range hs {
		if h.Pending {
			if err := removeHolder(ctx, s, rec, hid); err != nil {
				return err
			}
		}
	}
	if free, err := unheld(ctx, s, rec); err != nil || !free {
		return err
	}
	return deleteRecord(ctx, s, rec.RequestID)
}

// revoke ends this lease's hold on its request and checks the request in
// when it was the last holder (see release.go). Idempotent and keyed by
// request ID: a second revoke, or a request already ended upstream, is
// done. When Password Safe does not take the check-in, it is queued and
// the revoke succeeds: the engine, not Vault, retries it.
func (b *Backend) revoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	li, err := leaseInfoFrom(req.Secret)
	if err != nil {
		return nil, err
	}
	reason := "vault lease revoked: " + leaseName(req, li)
	if err := b.release(ctx, req.Storage, li.RequestID, li.Holder, reason, releaseOpts{}); err != nil {
		return nil, err
	}
	return nil, nil
}

// leaseName names the lease in the check-in reason: its lease ID when Vault
// passes it, else the path and request.
func leaseName(req *logical.Request, li *leaseInfo) string {
	if req.Secret != nil && req.Secret.LeaseID != "" {
		return req.Secret.LeaseID
	}
	p := strings.TrimSuffix(req.MountPoint, "/")
	if p != "" {
		p += "/"
	}
	if req.Path != "" {
		p += req.Path
	} else {
		p += "creds/" + li.Role
	}
	return fmt.Sprintf("%s (request %d)", p, li.RequestID)
}
