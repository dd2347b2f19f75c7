package dispatch

import (
	"testing"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// TestMain: with HOOKCI_TEST_STORE=postgres the dispatcher's tests run on a
// throwaway PostgreSQL cluster instead of SQLite.
func TestMain(m *testing.M) { pgtest.Main(m) }
