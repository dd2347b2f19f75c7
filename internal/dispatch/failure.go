package dispatch

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/store"
)

// Planning failures are either permanent (the payload cannot be planned, and
// never will be: the delivery ends failed at once) or transient (git, the
// network, GitHub, the store: the queue retries with backoff). Only the
// permanent ones are marked, with store.Permanent; everything else is
// transient.

var repoShape = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// errNoRepository is decodeEvent's error for a payload without a repository.
var errNoRepository = errors.New("payload names no repository")

// permanentDecode classifies a decodeEvent error: it is always permanent.
func permanentDecode(err error) error {
	if errors.Is(err, errNoRepository) {
		return store.Permanent(store.ReasonInvalidRepository, err)
	}
	return store.Permanent(store.ReasonMalformedPayload, fmt.Errorf("malformed payload: %w", err))
}

// checkEvent refuses, permanently, an event whose repository or commit
// cannot name anything to fetch.
func checkEvent(ev *event) error {
	if !repoShape.MatchString(ev.Repo) || strings.Contains(ev.Repo, "..") {
		return store.Permanent(store.ReasonInvalidRepository, fmt.Errorf("repository %q is not of the form owner/name", ev.Repo))
	}
	if ev.SHA != "" && !isZeroSHA(ev.SHA) && !gitrepo.ValidSHA(ev.SHA) {
		return store.Permanent(store.ReasonInvalidCommit, fmt.Errorf("commit id %q is not a full hexadecimal id", ev.SHA))
	}
	return nil
}

// deliveryFailed counts a failed delivery (the queue logged it).
func (d *Dispatcher) deliveryFailed(reason string) {
	if d.cfg.Observe != nil {
		d.cfg.Observe.DeliveryFailed(reason)
	}
}
