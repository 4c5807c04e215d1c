package compliance

// checkKMSRotation: a rotated key limits how much data one key version protects, and AWS
// rotates the material without changing the key id, so nothing that names the key breaks.
var checkKMSRotation = Check{
	Name:    "kms-rotation",
	Default: "customer-managed KMS keys rotate",
	Run:     kmsRotation,
}

func kmsRotation(t Template) (int, []string) {
	return each(t, "AWS::KMS::Key", func(r Resource) string {
		if Get(r.Properties, "EnableKeyRotation") != true {
			return "EnableKeyRotation is not true"
		}
		return ""
	})
}
