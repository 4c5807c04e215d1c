package control

import (
	"fmt"
	"strconv"
)

func strconvFloat(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func toString(v any) string { return fmt.Sprint(v) }
