package compliance

// checkS3Ownership: with ACLs disabled the bucket policy alone decides access, and an object
// another account writes still belongs to the bucket owner.
var checkS3Ownership = Check{
	Name:    "s3-ownership",
	Default: "S3 buckets enforce bucket-owner object ownership (no ACLs)",
	Run:     s3Ownership,
}

func s3Ownership(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		if Get(r.Properties, "OwnershipControls", "Rules", 0, "ObjectOwnership") != "BucketOwnerEnforced" {
			return "object ownership is not BucketOwnerEnforced"
		}
		return ""
	})
}
