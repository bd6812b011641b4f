package evaluator

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// runQueue is the FIFO of alarms waiting for a worker. An alarm is in it at
// most once (its sched state says so), so it never holds more entries than
// there are alarms and push never blocks.
type runQueue struct {
	mu     sync.Mutex // guards items, closed
	cond   *sync.Cond
	items  []*entry
	head   int
	closed bool
}

func (q *runQueue) init() { q.cond = sync.NewCond(&q.mu) }

func (q *runQueue) push(e *entry) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, e)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

// pop waits for an entry; false once the queue is closed.
func (q *runQueue) pop() (*entry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, false
	}
	e := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return e, true
}

func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// delayQueue holds alarms until the start of their next granularity step.
type delayQueue struct {
	mu   sync.Mutex // guards h
	h    delayHeap
	wake chan struct{}
}

type delayed struct {
	at time.Time
	e  *entry
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return x
}

func (q *delayQueue) init() { q.wake = make(chan struct{}, 1) }

func (q *delayQueue) add(e *entry, at time.Time) {
	q.mu.Lock()
	heap.Push(&q.h, delayed{at: at, e: e})
	first := q.h[0].e == e
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// run hands each entry to due when its time comes, until ctx ends.
func (q *delayQueue) run(ctx context.Context, due func(*entry)) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var ready []*entry
	for {
		q.mu.Lock()
		now := time.Now()
		ready = ready[:0]
		for len(q.h) > 0 && !q.h[0].at.After(now) {
			ready = append(ready, heap.Pop(&q.h).(delayed).e)
		}
		wait := time.Hour
		if len(q.h) > 0 {
			wait = q.h[0].at.Sub(now)
		}
		q.mu.Unlock()
		for _, e := range ready {
			due(e)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.wake:
		}
	}
}
