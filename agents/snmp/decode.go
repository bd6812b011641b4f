package snmp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// errAbsent is the decoders' answer for a variable the agent does not
// have (noSuchObject, noSuchInstance, endOfMibView, or NULL): its meter is
// left out quietly, as Ceilometer's SNMP inspector did.
var errAbsent = errors.New("no value")

// maxDecimalLen bounds a number sent as a string (UCD's laLoad): longer
// strings are garbage, not numbers.
const maxDecimalLen = 32

// maxStringLen bounds a metadata string, as the store bounds attributes.
const maxStringLen = 255

// absent reports whether pdu carries no value.
func absent(pdu *gosnmp.SnmpPDU) bool {
	switch pdu.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
		return true
	}
	return false
}

// decodeUint returns the value of a counter, gauge or non-negative
// integer variable. Any other type, or a negative integer, is garbage and
// gives an error naming the OID and what came.
func decodeUint(pdu *gosnmp.SnmpPDU) (uint64, error) {
	if absent(pdu) {
		return 0, errAbsent
	}
	switch pdu.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.Counter64, gosnmp.Uinteger32:
	default:
		return 0, wrongType(pdu, "a number")
	}
	switch v := pdu.Value.(type) {
	case int:
		if v < 0 {
			return 0, fmt.Errorf("OID %s: negative value %d", pdu.Name, v)
		}
		return uint64(v), nil
	case uint:
		return uint64(v), nil
	case uint32:
		return uint64(v), nil
	case uint64:
		return v, nil
	}
	return 0, wrongType(pdu, "a number")
}

// decodeDecimal returns the value of a number that may come as a decimal
// string (UCD-SNMP-MIB's laLoad is "0.42"), an integer or a float.
func decodeDecimal(pdu *gosnmp.SnmpPDU) (float64, error) {
	if absent(pdu) {
		return 0, errAbsent
	}
	var f float64
	switch pdu.Type {
	case gosnmp.OctetString:
		b, ok := pdu.Value.([]byte)
		if !ok || len(b) == 0 || len(b) > maxDecimalLen {
			return 0, fmt.Errorf("OID %s: %s of %d bytes where a decimal number is expected", pdu.Name, pdu.Type, len(b))
		}
		var err error
		f, err = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		if err != nil {
			return 0, fmt.Errorf("OID %s: %q is not a decimal number", pdu.Name, b)
		}
	case gosnmp.OpaqueFloat:
		v, ok := pdu.Value.(float32)
		if !ok {
			return 0, wrongType(pdu, "a decimal number")
		}
		f = float64(v)
	case gosnmp.OpaqueDouble:
		v, ok := pdu.Value.(float64)
		if !ok {
			return 0, wrongType(pdu, "a decimal number")
		}
		f = v
	default:
		u, err := decodeUint(pdu)
		if err != nil {
			return 0, err
		}
		f = float64(u)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("OID %s: %v is not a usable value", pdu.Name, f)
	}
	return f, nil
}

// decodeString returns a string variable, cut to maxStringLen bytes;
// bytes that are not UTF-8 (a binary string) come out as hex.
func decodeString(pdu *gosnmp.SnmpPDU) (string, error) {
	if absent(pdu) {
		return "", errAbsent
	}
	b, ok := pdu.Value.([]byte)
	if pdu.Type != gosnmp.OctetString || !ok {
		return "", wrongType(pdu, "a string")
	}
	// Agents pad fixed-size strings with NULs.
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if !utf8.Valid(b) {
		return clip(hex.EncodeToString(b)), nil
	}
	return clip(string(b)), nil
}

// decodeHex returns an octet string as bare lower-case hex (a MAC
// address, as Ceilometer reported it).
func decodeHex(pdu *gosnmp.SnmpPDU) (string, error) {
	if absent(pdu) {
		return "", errAbsent
	}
	b, ok := pdu.Value.([]byte)
	if pdu.Type != gosnmp.OctetString || !ok {
		return "", wrongType(pdu, "an octet string")
	}
	return clip(hex.EncodeToString(b)), nil
}

// decodeOID returns an OBJECT IDENTIFIER variable.
func decodeOID(pdu *gosnmp.SnmpPDU) (string, error) {
	if absent(pdu) {
		return "", errAbsent
	}
	s, ok := pdu.Value.(string)
	if pdu.Type != gosnmp.ObjectIdentifier || !ok {
		return "", wrongType(pdu, "an object identifier")
	}
	return s, nil
}

func wrongType(pdu *gosnmp.SnmpPDU, want string) error {
	return fmt.Errorf("OID %s: %s where %s is expected", pdu.Name, pdu.Type, want)
}

// clip bounds s to maxStringLen bytes without splitting a UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxStringLen {
		return s
	}
	i := maxStringLen
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}
