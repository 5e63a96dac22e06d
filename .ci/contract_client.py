"""A citizen's flow through a client generated from openapi/city.json (openapi-python-client).

Run by .ci/contract with the generated package `city_client` on PYTHONPATH and the portal at
CONTRACT_BASE. Every portal call goes through the generated code, so its models must parse what
the portal answers: a field the document gets wrong breaks this flow. Only the login code comes
from the WeChat sandbox directly (it stands in for the phone, and is not part of the portal's API).
"""

import importlib
import inspect
import json
import os
import pkgutil
import sys
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import city_client.api
from city_client import AuthenticatedClient, Client

BASE = os.environ["CONTRACT_BASE"]


def operation(operation_id):
    """The generated module of an operation, whichever tag it sits under."""
    for tag in pkgutil.iter_modules(city_client.api.__path__):
        try:
            return importlib.import_module(f"city_client.api.{tag.name}.{operation_id}")
        except ModuleNotFoundError:
            continue
    sys.exit(f"the generated client has no operation {operation_id}")


def call(operation_id, client, expect, body=None, **params):
    """Calls an operation; `body` is a dict given to the operation's own generated model."""
    module = operation(operation_id)
    if body is not None:
        model = inspect.signature(module.sync_detailed).parameters["body"].annotation
        if isinstance(model, str):
            model = getattr(importlib.import_module("city_client.models"), model.split(" | ")[0])
        params["body"] = model.from_dict(body)
    resp = module.sync_detailed(client=client, **params)
    if resp.status_code != expect:
        sys.exit(f"{operation_id}: {resp.status_code} {resp.content[:400]!r}")
    if resp.parsed is None:
        sys.exit(f"{operation_id}: the generated client could not read {resp.content[:400]!r}")
    return resp.parsed


def as_dict(parsed):
    return parsed.to_dict() if hasattr(parsed, "to_dict") else parsed


def main():
    anonymous = Client(base_url=BASE, raise_on_unexpected_status=True)

    # Sign in as the Mini Program does: a login code (the sandbox plays WeChat), then the portal.
    req = urllib.request.Request(
        f"{BASE}/sandbox/wechat/_test/mp/codes",
        data=json.dumps({"unionid": f"client-{uuid.uuid4().hex[:8]}"}).encode(),
        headers={"content-type": "application/json"},
    )
    code = json.load(urllib.request.urlopen(req))["code"]
    session = as_dict(call("create_miniprogram_session", anonymous, 200, body={"code": code}))
    citizen = AuthenticatedClient(base_url=BASE, token=session["token"], raise_on_unexpected_status=True)

    # Doctors near Chunxi Road (GCJ-02, as wx.getLocation reports it).
    doctors = call("list_doctors", anonymous, 200, lat=30.6530, lon=104.0836, coord="gcj02", limit=5)
    assert doctors, "no doctor near the pin"
    print(f"{len(doctors)} doctors near the pin; nearest {doctors[0].name} at {doctors[0].hospital_id}")

    # A free slot in the coming days (tomorrow to six days ahead, Beijing).
    beijing = datetime.now(timezone(timedelta(hours=8))).date()
    slot = None
    for doctor in doctors:
        for ahead in range(1, 7):
            day = (beijing + timedelta(days=ahead)).isoformat()
            slots = as_dict(call("list_slots", anonymous, 200, doctor_id=doctor.id, date=day))
            # A department may release fewer days ahead than others: only days already open.
            opens = datetime.fromisoformat(slots["opens_at"].replace("Z", "+00:00"))
            if opens > datetime.now(timezone.utc):
                continue
            free = [s for s in slots["slots"] if s["free"]]
            if free:
                slot = free[0]
                break
        if slot:
            break
    assert slot, "no free slot in the coming days"

    # The patient: a family member with a valid resident ID number.
    first17 = "51010419850612003"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]
    person = as_dict(
        call(
            "create_my_person",
            citizen,
            201,
            body={"name": "陈小红", "id_number": first17 + check, "relation": "parent"},
        )
    )

    key = f"client-{uuid.uuid4()}"
    booked = as_dict(
        call(
            "create_appointment",
            citizen,
            201,
            body={"slot_id": slot["id"], "person_id": person["id"]},
            idempotency_key=key,
        )
    )
    again = as_dict(call("get_appointment", citizen, 200, appointment_id=booked["id"]))
    assert again["id"] == booked["id"] and again["status"] == booked["status"], (booked, again)
    print(f"booked {booked['id']} ({booked['status']}) and read it back")

    # An air feed (the run's API key) posts this hour's readings of People's Park station (1437A)
    # first: a fresh portal has no recent hour, and the answer is then a documented 404.
    # The fuzzer ran first with an admin token and may have moved, renamed or re-assigned the
    # station to another network (put_air_station is fuzzed too), so the admin puts it back as
    # the seed has it before the feed writes to it.
    admin = AuthenticatedClient(base_url=BASE, token=os.environ["CONTRACT_STAFF"])
    resp = admin.get_httpx_client().put("/v1/air/stations/1437A", json={
        "name": "人民公园 People's Park", "lat": 30.6580, "lon": 104.0590, "coord": "wgs84",
        "operator": "CNEMC", "active": True})
    assert resp.status_code == 200, resp.text
    feed = AuthenticatedClient(base_url=BASE, token=os.environ["CONTRACT_APIKEY"], prefix="",
                               auth_header_name="X-API-Key")
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    readings = [("pm25", 35.0, "ug/m3"), ("pm10", 50.0, "ug/m3"), ("so2", 10.0, "ug/m3"),
                ("no2", 30.0, "ug/m3"), ("co", 0.8, "mg/m3"), ("o3", 60.0, "ug/m3")]
    resp = feed.get_httpx_client().post("/v1/air/readings", json={"readings": [
        {"station_code": "1437A", "observed_at": hour, "pollutant": p, "value": v, "unit": u} for p, v, u in readings]})
    assert resp.status_code == 200, resp.text
    air = as_dict(call("get_nearest_air_quality", anonymous, 200, lat=30.6580, lon=104.0590, coord="wgs84"))
    assert air["station"]["code"] == "1437A", air
    print(f"air near People's Park: station {air['station']['code']}, AQI {air.get('aqi')}")
    print("client flow: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
