package poll

import "github.com/vigil-telemetry/vigil/pipeline"

// sampleQueue is a FIFO ring of samples bounded to max: pushing onto a full
// queue drops the oldest samples, so that an agent cut off from the bus
// keeps the most recent data. It is not safe for concurrent use.
type sampleQueue struct {
	buf  []pipeline.Sample
	head int
	n    int
	max  int
}

// push appends ss and returns how many samples it dropped to stay bounded.
func (q *sampleQueue) push(ss []pipeline.Sample) (dropped int) {
	if len(ss) > q.max {
		dropped = len(ss) - q.max
		ss = ss[dropped:]
	}
	for i := range ss {
		if q.n == q.max {
			q.buf[q.head] = pipeline.Sample{}
			q.head = (q.head + 1) % len(q.buf)
			q.n--
			dropped++
		} else if q.n == len(q.buf) {
			q.grow()
		}
		q.buf[(q.head+q.n)%len(q.buf)] = ss[i]
		q.n++
	}
	return dropped
}

// grow doubles the ring, at most to max, keeping the order.
func (q *sampleQueue) grow() {
	size := min(q.max, max(64, 2*len(q.buf)))
	buf := make([]pipeline.Sample, size)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// pop appends up to k of the oldest samples to dst and removes them.
func (q *sampleQueue) pop(dst []pipeline.Sample, k int) []pipeline.Sample {
	for ; k > 0 && q.n > 0; k-- {
		dst = append(dst, q.buf[q.head])
		q.buf[q.head] = pipeline.Sample{} // release the metadata map
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
	return dst
}

func (q *sampleQueue) len() int { return q.n }

// reset empties the queue, releasing what it held.
func (q *sampleQueue) reset() {
	clear(q.buf)
	q.head, q.n = 0, 0
}
