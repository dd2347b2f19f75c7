package github_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

func TestAppHookDeliveries(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	var ids []int64
	for i := range 130 {
		ids = append(ids, e.srv.AddHookDelivery(githubtest.HookDelivery{GUID: fmt.Sprintf("guid-%d", i), Event: "push", StatusCode: 202}))
	}
	got, err := e.c.ListAppHookDeliveries(ctx, 120)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 || got[0].GUID != "guid-129" || got[119].GUID != "guid-10" {
		t.Fatalf("got %d deliveries (first %+v), want 120, newest first", len(got), got[0])
	}
	if err := e.c.RedeliverAppHook(ctx, ids[3]); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Redeliveries(); len(got) != 1 || got[0] != ids[3] {
		t.Errorf("redeliveries: got %v, want [%d]", got, ids[3])
	}
	latest, err := e.c.ListAppHookDeliveries(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 1 || !latest[0].Redelivery || latest[0].GUID != "guid-3" {
		t.Errorf("latest delivery: got %+v, want the redelivery of guid-3", latest)
	}
}

func TestRepoHookDeliveries(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	id := e.srv.AddHookDelivery(githubtest.HookDelivery{HookID: 5, Repo: full, GUID: "g", Event: "pull_request", Action: "opened", StatusCode: 500})
	got, err := e.c.ListRepoHookDeliveries(ctx, repo, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := github.HookDelivery{ID: id, GUID: "g", Event: "pull_request", Action: "opened", StatusCode: 500, Status: "Internal Server Error"}
	if len(got) != 1 {
		t.Fatalf("got %d deliveries, want 1", len(got))
	}
	got[0].DeliveredAt = want.DeliveredAt
	if got[0] != want {
		t.Errorf("got %+v, want %+v", got[0], want)
	}
	if err := e.c.RedeliverRepoHook(ctx, repo, 5, id); err != nil {
		t.Fatal(err)
	}
	if err := e.c.RedeliverRepoHook(ctx, repo, 5, 999999); err == nil {
		t.Error("redeliver of an unknown delivery: got success, want 404")
	}
	if _, err := e.c.ListAppHookDeliveries(ctx, 1); !errors.Is(err, github.ErrAppRequired) {
		t.Errorf("App hook in token mode: got %v, want ErrAppRequired", err)
	}
}
