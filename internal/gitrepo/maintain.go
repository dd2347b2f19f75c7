package gitrepo

import (
	"context"
	"time"
)

// A fetch into a mirror ends by running `git maintenance run --auto`, a
// process of its own (8–10 ms here, even when there is nothing to do) on
// the path from a webhook to its first job. The mirrors' fetches turn it
// off (maintenance.auto=false) and maintainLater runs the same command
// after the fetch, off that path: at most one per mirror at a time, ended
// and waited for by Close. git's own thresholds decide when a gc runs.
//
// A mirror fetches commits by id and keeps no ref to most of them, so to
// git's gc they are unreachable: by default a gc unpacks them into loose
// objects and prunes them two weeks later, after which a re-run of an
// older commit would find it gone while the cache still remembers it as
// fetched. The gc here keeps them: unreachable objects go into a cruft
// pack that never expires (gc.cruftPacks, gc.pruneExpire=never).

// maintainLater runs git's automatic maintenance on the mirror dir in the
// background; asked again while it runs, it runs once more afterwards.
func (c *Cache) maintainLater(dir string) {
	c.mu.Lock()
	if c.maintCtx == nil {
		c.maintCtx, c.maintStop = context.WithCancel(context.Background())
		c.maintaining = map[string]bool{}
	}
	if again, running := c.maintaining[dir]; running || c.maintCtx.Err() != nil {
		if running && !again {
			c.maintaining[dir] = true
		}
		c.mu.Unlock()
		return
	}
	c.maintaining[dir] = false
	ctx := c.maintCtx
	c.maintWG.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.maintWG.Done()
		for {
			mctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			// A failure only leaves it for the next fetch.
			git(mctx, dir, nil, "-c", "gc.cruftPacks=true", "-c", "gc.pruneExpire=never", "maintenance", "run", "--auto", "--quiet")
			cancel()
			c.mu.Lock()
			if c.maintaining[dir] && ctx.Err() == nil {
				c.maintaining[dir] = false
				c.mu.Unlock()
				continue
			}
			delete(c.maintaining, dir)
			c.mu.Unlock()
			return
		}
	}()
}

// stopMaintenance ends background maintenance and waits for it; a later
// fetch starts it again.
func (c *Cache) stopMaintenance() {
	c.mu.Lock()
	if c.maintStop != nil {
		c.maintStop()
	}
	c.maintCtx, c.maintStop = nil, nil
	c.mu.Unlock()
	c.maintWG.Wait()
}

// waitMaintenance waits for background maintenance to end by itself.
func (c *Cache) waitMaintenance() { c.maintWG.Wait() }
