package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/web"
)

// redeliverScan is how many of the App webhook's newest deliveries are
// searched for the one to redeliver (GitHub keeps three days of them).
const redeliverScan = 1000

// redeliverError is a redelivery refusal with the HTTP status to answer.
type redeliverError struct {
	code int
	msg  string
}

func (e *redeliverError) Error() string   { return e.msg }
func (e *redeliverError) StatusCode() int { return e.code }

// appRedeliver redelivers through GitHub's hook deliveries API: the App
// webhook's deliveries are listed to find the numeric id of the delivery
// whose X-GitHub-Delivery is guid (the newest attempt of it), and that one
// is sent again (POST /app/hook/deliveries/{id}/attempts).
func appRedeliver(gh *github.Client) web.Redeliver {
	return func(ctx context.Context, guid string) error {
		list, err := gh.ListAppHookDeliveries(ctx, redeliverScan)
		if err != nil {
			return fmt.Errorf("redeliver %s: %w", guid, err)
		}
		for _, d := range list { // newest first
			if d.GUID != guid {
				continue
			}
			err := gh.RedeliverAppHook(ctx, d.ID)
			if code := github.HTTPStatus(err); code == http.StatusNotFound || code == http.StatusUnprocessableEntity {
				return &redeliverError{code: http.StatusUnprocessableEntity, msg: "GitHub refused to redeliver " + guid + ": " + err.Error()}
			}
			return err
		}
		return &redeliverError{code: http.StatusNotFound,
			msg: "GitHub lists no delivery " + guid + " of the App's webhook (it keeps three days of them)"}
	}
}
