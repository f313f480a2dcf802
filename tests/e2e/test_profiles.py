"""Storage profiles through the admin API (issue 6, deliverable 1): the config file's
profiles, GET/PUT /api/v1/profiles with validation naming the field, and a PUT kept in the
catalog across a restart (it wins over the file from then on)."""

import json
import urllib.error
import urllib.request

from harness import Mosaic, serving

CONFIG = """
[profiles.whale]
degree = "fine"
range_columns = ["created_at"]
migration_windows = ["01:00-05:00"]
[tenant_profiles]
"42" = "whale"
"""


def put(m, body, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{m.host}:{m.admin_port}/api/v1/profiles", data=data,
                                 method="PUT", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_profiles_api():
    with serving(Mosaic(nodes=1, name="profiles", config_text=CONFIG)) as m:
        status, got = m.admin_get_json("/api/v1/profiles")
        assert status == 200, got
        assert got["source"] == "config"
        assert got["profiles"]["whale"]["degree"] == "fine"
        assert got["profiles"]["whale"]["range_columns"] == ["created_at"]
        assert got["profiles"]["default"]["degree"] == "coarse"
        assert got["profiles"]["default"]["range_columns"] == "auto"
        assert got["tenant_profiles"] == {"42": "whale"}

        # bad values: 400 naming the field, nothing changes
        for body, field in [
            ({"profiles": {"whale": {"degree": "huge"}}}, "profiles.whale.degree"),
            ({"profiles": {"p": {"migration_windows": ["25:00-26:00"]}}}, "profiles.p.migration_windows"),
            ({"profiles": {"p": {"max_shard_bytes": -5}}}, "profiles.p.max_shard_bytes"),
            ({"profiles": {}, "tenant_profiles": {"7": "nope"}}, "tenant_profiles"),
        ]:
            status, reply = put(m, body)
            assert status == 400, (body, reply)
            assert field in reply["error"], (field, reply)
        status, reply = put(m, None, raw=b"{not json")
        assert status == 400, reply
        assert m.admin_get_json("/api/v1/profiles")[1]["source"] == "config"

        gold = {"degree": "coarse", "max_ranges": 3, "range_columns": ["customer_id"],
                "migration_windows": ["22:00-02:00 +02:00"], "max_shard_bytes": "10GiB",
                "max_p99_ms": 250}
        status, reply = put(m, {"profiles": {"gold": gold}, "tenant_profiles": {"7": "gold"}})
        assert status == 200, reply
        assert reply["source"] == "catalog"
        status, got = m.admin_get_json("/api/v1/profiles")
        assert set(got["profiles"]) == {"default", "gold"}  # the PUT replaced the whole set
        assert got["profiles"]["gold"]["max_ranges"] == 3
        assert got["profiles"]["gold"]["max_shard_bytes"] == 10 * 1024 ** 3
        assert got["tenant_profiles"] == {"7": "gold"}

        # kept in the catalog: a restart with the same config file still has the PUT's set
        m.stop()
        m.start()
        status, after = m.admin_get_json("/api/v1/profiles")
        assert status == 200
        assert after == got

        status, reply = m.admin_post("/api/v1/profiles", {"profiles": {}})
        assert status == 405, reply
