package snmp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// requester is the part of gosnmp.GoSNMP a walk uses.
type requester interface {
	GetBulk(oids []string, nonRepeaters uint8, maxRepetitions uint32) (*gosnmp.SnmpPacket, error)
}

// errNoProgress ends a walk on an agent that answers without moving on.
var errNoProgress = errors.New("agent answered a walk without progress")

// walkColumns walks table columns side by side, one GetBulk carrying every
// column still going, so that a table of r rows and c columns takes about
// r/maxRep requests instead of c walks. cols are OIDs with a leading dot.
// fn gets each variable inside its column with the column's position in
// cols and the row index (the OID past the column). A column ends where
// the agent leaves its subtree. The walk fails on an agent error, on an
// OID that does not increase (an agent looping), and past maxRows rows in
// a column, so that no agent can keep it going.
//
// A GetBulk reply holds the columns in turn, repetition after repetition;
// an agent shortens it to fit its message size, so a reply may end
// mid-row: the columns it did not reach go on from where they were.
func walkColumns(g requester, cols []string, maxRep uint32, maxRows int, fn func(col int, index string, pdu *gosnmp.SnmpPDU)) error {
	next := make([]string, len(cols)) // the last OID seen per column
	copy(next, cols)
	rows := make([]int, len(cols))
	active := make([]int, len(cols)) // positions in cols still walked
	for i := range active {
		active[i] = i
	}
	oids := make([]string, 0, len(cols))
	done := make([]bool, len(cols))
	for len(active) > 0 {
		oids = oids[:0]
		for _, c := range active {
			oids = append(oids, next[c])
		}
		pkt, err := g.GetBulk(oids, 0, maxRep)
		if err != nil {
			return fmt.Errorf("cannot walk %s: %w", cols[active[0]], err)
		}
		if pkt.Error != gosnmp.NoError {
			return fmt.Errorf("cannot walk %s: agent error %s at variable %d", cols[active[0]], pkt.Error, pkt.ErrorIndex)
		}
		n := len(active)
		clear(done[:n])
		progress := false
		for k := range pkt.Variables {
			pdu := &pkt.Variables[k]
			i := k % n
			if done[i] {
				continue
			}
			c := active[i]
			index, inside := strings.CutPrefix(pdu.Name, cols[c]+".")
			if pdu.Type == gosnmp.EndOfMibView || !inside || index == "" {
				done[i], progress = true, true
				continue
			}
			if oidCompare(pdu.Name, next[c]) <= 0 {
				return fmt.Errorf("cannot walk %s: %w: %s after %s", cols[c], errNoProgress, pdu.Name, next[c])
			}
			if rows[c]++; rows[c] > maxRows {
				return fmt.Errorf("cannot walk %s: more than %d rows", cols[c], maxRows)
			}
			next[c], progress = pdu.Name, true
			fn(c, index, pdu)
		}
		if !progress {
			return fmt.Errorf("cannot walk %s: %w: %d variables in the reply", cols[active[0]], errNoProgress, len(pkt.Variables))
		}
		kept := active[:0]
		for i, c := range active {
			if !done[i] {
				kept = append(kept, c)
			}
		}
		active = kept
	}
	return nil
}

// oidCompare compares two dotted OIDs arc by arc, as numbers; an OID
// that cannot be parsed sorts by its text so that the comparison stays a
// total order.
func oidCompare(a, b string) int {
	a, b = strings.TrimPrefix(a, "."), strings.TrimPrefix(b, ".")
	for a != "" && b != "" {
		var x, y string
		x, a, _ = strings.Cut(a, ".")
		y, b, _ = strings.Cut(b, ".")
		if x == y {
			continue
		}
		xn, errX := strconv.ParseUint(x, 10, 64)
		yn, errY := strconv.ParseUint(y, 10, 64)
		switch {
		case errX != nil || errY != nil:
			return strings.Compare(x, y)
		case xn < yn:
			return -1
		default:
			return 1
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}
