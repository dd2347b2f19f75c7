package trace

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestRecordAndRead(t *testing.T) {
	var buf bytes.Buffer
	ctx := NewContext(context.Background(), New(&buf))
	t0 := time.Now()
	end := Begin(ctx, "planning")
	Record(ctx, "queue pickup", t0.Add(-5*time.Millisecond), 5*time.Millisecond)
	end()
	spans, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		dur  func(time.Duration) bool
	}{
		{"queue pickup", func(d time.Duration) bool { return d == 5*time.Millisecond }},
		{"planning", func(d time.Duration) bool { return d >= 0 }},
	}
	if len(spans) != len(cases) {
		t.Fatalf("got %d spans, want %d: %+v", len(spans), len(cases), spans)
	}
	for i, c := range cases {
		if spans[i].Name != c.name || !c.dur(spans[i].Dur) {
			t.Errorf("span %d: got %q %v, want %q (in start order)", i, spans[i].Name, spans[i].Dur, c.name)
		}
	}
}

func TestOffWithoutRecorder(t *testing.T) {
	ctx := context.Background()
	if FromContext(ctx) != nil {
		t.Fatal("got a recorder in an empty context, want none")
	}
	Begin(ctx, "x")()               // must not panic
	Record(ctx, "y", time.Now(), 0) // nor this
	var r *Recorder
	r.Record("z", time.Now(), 0)
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				r.Record(fmt.Sprintf("g%d-%d", i, k), time.Now(), time.Millisecond)
			}
		}()
	}
	wg.Wait()
	spans, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(spans), 400; got != want {
		t.Fatalf("got %d spans, want %d", got, want)
	}
}

func TestReadRejectsGarbage(t *testing.T) {
	if _, err := Read(bytes.NewBufferString("{\"name\":\"a\"}\nnot json\n")); err == nil {
		t.Fatal("got no error for a line that is not JSON, want one naming line 2")
	}
}
