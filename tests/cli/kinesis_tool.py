"""boto3 against moto's Kinesis, for test_mirror.py (run by the interpreter
that has boto3: tests/remote/harness.py aws_python()).

    kinesis_tool.py ENDPOINT create STREAM SHARDS
    kinesis_tool.py ENDPOINT read STREAM      -> JSON lines {"shard", "key", "data" (base64), "seq"}
                                                 every record of every shard from TRIM_HORIZON, in order
"""
import base64, json, sys, time

import boto3

ep, cmd, stream = sys.argv[1], sys.argv[2], sys.argv[3]
k = boto3.client("kinesis", endpoint_url=ep, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")
if cmd == "create":
    k.create_stream(StreamName=stream, ShardCount=int(sys.argv[4]))
    for _ in range(100):
        if k.describe_stream(StreamName=stream)["StreamDescription"]["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.1)
elif cmd == "read":
    shards = k.list_shards(StreamName=stream)["Shards"]
    for sh in shards:
        it = k.get_shard_iterator(StreamName=stream, ShardId=sh["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            r = k.get_records(ShardIterator=it, Limit=10000)
            for rec in r["Records"]:
                print(json.dumps({"shard": sh["ShardId"], "key": rec["PartitionKey"],
                                  "data": base64.b64encode(rec["Data"]).decode(),
                                  "seq": rec["SequenceNumber"]}))
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break
            it = r.get("NextShardIterator")
else:
    sys.exit("unknown command " + cmd)
