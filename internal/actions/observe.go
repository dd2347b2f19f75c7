package actions

// ObserveCache makes r tell f the result of each actions/cache restore:
// "hit" (the primary key matched), "partial" (a restore key did) or "miss"
// (for metrics). Call it before r runs jobs.
func (r *Executor) ObserveCache(f func(result string)) { r.onCache = f }

func (r *Executor) observeCache(found, exact bool) {
	switch {
	case r.onCache == nil:
	case !found:
		r.onCache("miss")
	case exact:
		r.onCache("hit")
	default:
		r.onCache("partial")
	}
}
