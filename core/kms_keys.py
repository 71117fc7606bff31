"""`KmsKeyStore`: the `core.personal.KeyStore` on AWS, by envelope encryption.

Each subject's data key is made by KMS (`GenerateDataKey`, AES-256, with the subject as encryption context)
and kept only encrypted, in a DynamoDB key table (`subject` -> `blob`); reading it asks KMS to decrypt the
blob. Forgetting deletes the item: the blob is gone, so no KMS key can give the data key back, and every value
sealed under it is unreadable for good (point-in-time recovery of the key table must stay off, or be shorter
than the promise made to the person; see the README).

A process keeps the data keys it decrypted for `cache_seconds` (one KMS request per subject per period, not per
event); another process forgets within that period at most, and the one that ran `destroy` at once.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from core.personal import KEY_BYTES, PersonalDataError, check_subject

#: The key table's attributes: the subject (partition key) and its encrypted data key.
SUBJECT, BLOB = "subject", "blob"


class KmsKeyStore:
    """Data keys per subject, made and decrypted by KMS key `key_id`, stored encrypted in `table`."""

    def __init__(self, kms: Any, dynamodb: Any, table: str, key_id: str, cache_seconds: float = 300.0,
                 clock: Any = time.monotonic) -> None:
        if not key_id:
            raise PersonalDataError("a KMS key store needs a KMS key id, alias or ARN")
        self.kms, self.dynamodb, self.table, self.key_id = kms, dynamodb, table, key_id
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def key(self, subject: str, create: bool = False) -> bytes | None:
        check_subject(subject)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        item = self.dynamodb.get_item(TableName=self.table, Key={SUBJECT: {"S": subject}},
                                      ConsistentRead=True).get("Item")
        if item is not None:
            key = self._decrypt(subject, item[BLOB]["B"])
        elif not create:
            with self._lock:
                self._cache.pop(subject, None)
            return None
        else:
            key = self._create(subject)
        with self._lock:
            self._cache[subject] = (now, key)
        return key

    def _context(self, subject: str) -> dict[str, str]:
        return {"subject": subject}

    def _decrypt(self, subject: str, blob: bytes) -> bytes:
        reply = self.kms.decrypt(CiphertextBlob=blob, EncryptionContext=self._context(subject), KeyId=self.key_id)
        return bytes(reply["Plaintext"])

    def _create(self, subject: str) -> bytes:
        made = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256",
                                          EncryptionContext=self._context(subject))
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={SUBJECT: {"S": subject}, BLOB: {"B": made["CiphertextBlob"]}},
                ConditionExpression="attribute_not_exists(#s)",
                ExpressionAttributeNames={"#s": SUBJECT},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = self.dynamodb.get_item(TableName=self.table, Key={SUBJECT: {"S": subject}},
                                          ConsistentRead=True)["Item"]  # another writer made it first
            return self._decrypt(subject, item[BLOB]["B"])
        return bytes(made["Plaintext"])

    def destroy(self, subject: str) -> bool:
        check_subject(subject)
        with self._lock:
            self._cache.pop(subject, None)
        reply = self.dynamodb.delete_item(TableName=self.table, Key={SUBJECT: {"S": subject}},
                                          ReturnValues="ALL_OLD")
        return "Attributes" in reply


class LocalTableKeyStore(KmsKeyStore):
    """The key table without KMS: each data key is kept as it is. For the embedded stack and tests only; it
    forgets exactly as the KMS store does (the item is deleted), but anyone who reads the table reads the keys."""

    def __init__(self, dynamodb: Any, table: str, cache_seconds: float = 300.0, clock: Any = time.monotonic) -> None:
        super().__init__(None, dynamodb, table, "local", cache_seconds, clock)

    def _decrypt(self, subject: str, blob: bytes) -> bytes:
        return bytes(blob)

    def _create(self, subject: str) -> bytes:
        key = os.urandom(KEY_BYTES)
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item={SUBJECT: {"S": subject}, BLOB: {"B": key}},
                ConditionExpression="attribute_not_exists(#s)", ExpressionAttributeNames={"#s": SUBJECT},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = self.dynamodb.get_item(TableName=self.table, Key={SUBJECT: {"S": subject}},
                                          ConsistentRead=True)["Item"]
            return bytes(item[BLOB]["B"])
        return key


def keys_table_definition(table: str) -> dict[str, Any]:
    """The key table's `create_table` arguments (on demand, point-in-time recovery left off)."""
    return {
        "TableName": table,
        "AttributeDefinitions": [{"AttributeName": SUBJECT, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": SUBJECT, "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
