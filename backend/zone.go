package backend

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Password Safe may write its dates in its local time without a zone
// ("2019-05-30T07:30:48.16"); the client reads them as UTC and marks the
// request (client.Request.Zoneless). Taken as they are, they are off by the
// server's offset from UTC: west of UTC a live request looks ended (renew
// refuses a fresh lease), east of UTC it looks longer than it is (a lease
// could outlive its request). The API says nothing of the server's zone
// (the HTTP Date header is in GMT), so the engine learns the offset from
// what it saw itself: a request it made between two moments of its own
// clock carries, in RequestReleaseDate, the server's local time of that
// moment. The offset is that date minus the engine's time, rounded to a
// whole quarter hour (every zone in use is; the rounding also absorbs the
// POST's latency). An observation far from a quarter hour is clock skew
// between Vault and Password Safe, not a zone: it teaches nothing (rounded,
// it could land on the wrong quarter hour).
//
// A learned offset is only known up to a daylight saving change: one may
// have happened since it was learned, and a date written for a moment past
// a change (a request's expiry) carries the offset of that moment, not the
// one its release date showed. A change moves the offset by an hour (half
// an hour in a few zones), so a date is read over {off-1h, ..., off+1h}:
// an expiry at its earliest (off+1h, less zoneSkewSlack: a lease must never
// outlive its request), an approval that keeps a claim window open at its
// latest (off-1h: the window never closes early on a claimant). The price,
// on a server writing dates without a zone, is up to an hour of lease where
// a date decides it (a request the engine did not make, an approval), and
// up to an hour more of claim window.
//
// It costs no extra call. A checkout that made its request needs no date
// from Password Safe (the request ends DurationMinutes after its POST, by
// the engine's clock), and a request the mount made ends no earlier than
// its record says. Where a date is needed (a reused request's expiry, the
// expiry after an approval, a claim, a renew, the claim window), the engine
// reads GET Requests anyway, and learns from the requests of this mount the
// answer lists (their records keep when they were made). What teaches
// nothing (a person's request reused after a restart, with none of the
// mount's own listed) is taken at its safe side: see zoneGuess.

// maxObservation: a making window wider than this (a POST that took long,
// with retries) could round to the wrong quarter hour; it teaches nothing.
const maxObservation = 5 * time.Minute

// maxZoneResidual: an observation further than this from a whole quarter
// hour is taken for clock skew (and teaches nothing). Skew of 7.5 minutes
// or more would round to the wrong quarter hour; a bound well below that
// refuses it, and still leaves room for the making window's latency.
const maxZoneResidual = 4 * time.Minute

// zoneSkewSlack is taken off every expiry read with a learned offset: the
// clock skew an accepted observation may hide (its residual).
const zoneSkewSlack = maxZoneResidual

// maxZoneShift is the most a daylight saving change moves a zone's offset.
const maxZoneShift = time.Hour

// zoneScanMax bounds the records read to learn the offset when nothing the
// caller already read teaches it (after a restart): storage reads, no
// upstream call.
const zoneScanMax = 16

// zoneMemo is the server's offset as last learned, for one config
// generation (a new config may name another server). In memory only: an
// offset goes stale at a daylight saving change, and each fresh observation
// replaces it.
type zoneMemo struct {
	mu    sync.Mutex
	gen   uint64
	known bool
	off   time.Duration
	seen  time.Time // the engine time of the observation it came from
}

// zoneGuess is what the engine knows of the offset of a server's dates
// without a zone.
type zoneGuess struct {
	known bool
	off   time.Duration
}

// made is when, by the engine's clock, a request it created was made: after
// From (before the POST) and before By (its answer). Zero when unknown.
type made struct{ From, By time.Time }

// offset is what r's release date says of the server's offset, if the
// window is narrow enough to tell.
func (m made) offset(r client.Request) (time.Duration, bool) {
	if m.From.IsZero() || m.By.Before(m.From) || m.By.Sub(m.From) > maxObservation ||
		!r.Zoneless || r.RequestReleaseDate == nil {
		return 0, false
	}
	mid := m.From.Add(m.By.Sub(m.From) / 2)
	raw := r.RequestReleaseDate.Sub(mid)
	off := raw.Round(zoneStep)
	if off < -maxZoneOffset || off > maxZoneOffset || (raw-off).Abs() > maxZoneResidual {
		return 0, false
	}
	return off, true
}

// observe learns the offset from request r, made within m, for config
// generation gen. The newest observation wins: an older one read later
// (a long-lived request) must not undo a daylight saving change.
func (z *zoneMemo) observe(gen uint64, r client.Request, m made) {
	off, ok := m.offset(r)
	if !ok {
		return
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.gen != gen {
		if gen < z.gen {
			return // a caller of a config replaced since
		}
		z.gen, z.known = gen, false
	}
	if z.known && m.By.Before(z.seen) {
		return
	}
	z.known, z.off, z.seen = true, off, m.By
}

func (z *zoneMemo) guess(gen uint64) zoneGuess {
	z.mu.Lock()
	defer z.mu.Unlock()
	if !z.known || z.gen != gen {
		return zoneGuess{}
	}
	return zoneGuess{known: true, off: z.off}
}

// serverZone is what the engine knows of the server's offset after reading
// reqs (one GET Requests answer, of config generation gen). own are the
// making windows the caller already has (its own request, records it
// read). When that teaches nothing and the offset is still unknown, the
// records of the newest zone-less requests listed are read for theirs.
func (b *Engine) serverZone(ctx context.Context, s logical.Storage, gen uint64, reqs []client.Request, own map[int]made) zoneGuess {
	var zoneless []int
	for _, r := range reqs {
		if !r.Zoneless {
			continue
		}
		if m, ok := own[r.RequestID]; ok {
			b.zone.observe(gen, r, m)
		} else {
			zoneless = append(zoneless, r.RequestID)
		}
	}
	if g := b.zone.guess(gen); g.known || len(zoneless) == 0 || s == nil {
		return g
	}
	byID := make(map[int]client.Request, len(reqs))
	for _, r := range reqs {
		byID[r.RequestID] = r
	}
	sort.Sort(sort.Reverse(sort.IntSlice(zoneless))) // newest first
	if len(zoneless) > zoneScanMax {
		zoneless = zoneless[:zoneScanMax]
	}
	for _, id := range zoneless {
		lock := b.lockRequest(id)
		lock.Lock()
		rec, err := getRecord(ctx, s, id)
		lock.Unlock()
		if err != nil {
			b.Logger().Debug("could not read a record to learn Password Safe's time zone", "request_id", id, "error", err)
			continue
		}
		if rec != nil {
			b.zone.observe(gen, byID[id], rec.made())
		}
	}
	return b.zone.guess(gen)
}

// earliest is the earliest true time date t of r may stand for: t itself
// when r's dates have a zone; with a learned offset, t read with the
// largest offset a daylight saving change since may have brought, less
// zoneSkewSlack; when the offset is unknown, the earliest of every
// quarter-hour offset within ±14h that is still after floor (r is known not
// to have ended by then). For expiries: a lease must never outlive its
// request.
func (g zoneGuess) earliest(r client.Request, t, floor time.Time) time.Time {
	switch {
	case !r.Zoneless:
		return t
	case g.known:
		return t.Add(-(g.off + maxZoneShift + zoneSkewSlack))
	}
	for o := maxZoneOffset; o >= -maxZoneOffset; o -= zoneStep {
		if at := t.Add(-o); at.After(floor) {
			return at
		}
	}
	return t.Add(maxZoneOffset)
}

// latest is the latest true time date t of r may stand for (with a learned
// offset, read with the smallest a daylight saving change since may have
// brought), no later than ceil (r is known to have passed it by then).
func (g zoneGuess) latest(r client.Request, t, ceil time.Time) time.Time {
	at := t.Add(maxZoneOffset)
	switch {
	case !r.Zoneless:
		return t
	case g.known:
		at = t.Add(-(g.off - maxZoneShift))
	}
	if at.Before(ceil) {
		return at
	}
	return ceil
}

// observeOne is for a caller that holds r and its making window (the
// request's record), and needs no scan.
func (b *Engine) observeOne(gen uint64, r client.Request, m made) zoneGuess {
	if r.Zoneless {
		b.zone.observe(gen, r, m)
	}
	return b.zone.guess(gen)
}
