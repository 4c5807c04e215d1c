// Package securestore provides the platform's encrypted stores: buckets, tables, queues and
// topics that are encrypted with a customer-managed KMS key, refuse plain-text transport, and
// keep their data when their stack is deleted unless the caller says otherwise.
//
// Precedence is explicit: the package's defaults, then the caller's props, then what the
// construct forces (encryption, TLS, public access block), which no prop can turn off. Grant
// methods chain the key grant, so a grantee can always decrypt what it may read.
//
// A stack that uses a store created elsewhere imports it with TableFromAttributes,
// BucketFromAttributes, QueueFromAttributes or TopicFromAttributes. Each takes the store's
// key and returns CDK's own interface (awsdynamodb.ITable, awss3.IBucket, awssqs.IQueue,
// awssns.ITopic), whose grants chain that key as well, and which any construct taking the
// interface accepts.
package securestore
