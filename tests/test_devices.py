"""The register of rented devices: the API, the device's history and fault counts, the CSV import (GBK, a bad
row, a bad header: nothing half-imported) from the command line and the page, the export, the intake naming a
registered device."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from domain.core.db import db
from domain.core.enums import Role
from domain.core.types import utcnow
from domain.devices.models import Device
from domain.requests.catalog import ensure_catalog
from domain.requests.models import Ticket

from .helpers import signed_client

DEVICE = {"asset_number": "ZC-ENC-0001", "serial_number": "MW2301A77", "model": "Magewell Ultra Encode HDMI"}
REQUEST = {"customer_name": "鲸鱼电竞俱乐部", "contact_phone": "13900139002", "problem": "推流中断",
           "urgency": "urgent", "channel": "phone"}
CSV_HEADER = "资产编号,序列号,型号,状态,客户,起租日期\r\n"


@pytest.fixture
def staff(app, make_user):
    ids = {name: make_user(role, name)[0] for name, role in [
        ("desk", Role.DISPATCHER), ("boss", Role.SUPERVISOR), ("li", Role.TECHNICIAN)]}
    with app.app_context():
        ensure_catalog()
        db.session.commit()
    return ids


def _devices(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.execute(select(Device.asset_number)).scalars())


def test_create_answers_201_with_the_state_and_the_report_url(app, staff):
    client = signed_client(app, "desk")
    response = client.post("/api/v1/devices", json=DEVICE)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert {k: data[k] for k in DEVICE} == DEVICE
    assert data["state"] == "in_stock" and data["category"] == "encoder"
    assert data["report_url"].startswith(app.config["PUBLIC_URL"].rstrip("/") + "/d/")
    code = data["report_url"].rsplit("/", 1)[1]
    assert len(code) == 16 and DEVICE["asset_number"] not in code  # not derived from anything guessable
    again = client.post("/api/v1/devices", json={**DEVICE, "serial_number": "OTHER"})
    assert again.status_code == 422 and "asset_number" in again.get_json()["error"]["fields"]
    twin = client.post("/api/v1/devices", json={**DEVICE, "asset_number": "ZC-ENC-0002"})
    assert twin.status_code == 422 and "serial_number" in twin.get_json()["error"]["fields"]


@pytest.mark.parametrize("body, field", [
    ({**DEVICE, "model": "Nothing3000"}, "model"),  # a new model needs its brand
    ({**DEVICE, "model": "Acme Nothing 3000", "category": "toaster"}, "category"),
    ({**DEVICE, "asset_number": ""}, "asset_number"),
    ({**DEVICE, "asset_number": "ZC 0001"}, "asset_number"),
    ({**DEVICE, "serial_number": "S" * 101}, "serial_number"),
    ({**DEVICE, "state": "rented"}, "customer"),
    ({**DEVICE, "state": "lost"}, "state"),
    ({**DEVICE, "model": {"deep": [1]}}, "model"),
    ({**DEVICE, "rented_since": "9999-12-31", "state": "rented", "customer": "X"}, "rented_since"),
])
def test_a_bad_device_is_a_422_naming_the_field(app, staff, body, field):
    response = signed_client(app, "boss").post("/api/v1/devices", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert _devices(app) == []


def test_a_nul_or_a_lone_surrogate_is_refused_before_the_register(app, staff):
    client = signed_client(app, "boss")
    response = client.post("/api/v1/devices", json={**DEVICE, "asset_number": "A\x00B"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "nul_character"
    response = client.post("/api/v1/devices", data=b'{"asset_number": "\\ud800", "model": "x"}',
                           content_type="application/json")
    assert response.status_code == 400
    assert _devices(app) == []


def test_a_model_new_to_the_catalog_is_added_once_under_its_category(app, staff, runner, tmp_path):
    client = signed_client(app, "desk")
    made = client.post("/api/v1/devices", json={"asset_number": "ZC-NEW-1", "model": "Atomos Ninja V"})
    assert made.status_code == 201 and made.get_json()["category"] == "other"
    text = ("资产编号,型号,设备类别\r\nZC-NEW-2,Atomos Shogun 7,编码器\r\nZC-NEW-3,atomos  shogun 7,encoder\r\n"
            "ZC-NEW-4,Atomos Ninja V,\r\n")
    path = tmp_path / "new.csv"
    path.write_bytes(text.encode("gbk"))
    result = runner.invoke(args=["devices", "import", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from domain.requests.models import DeviceModel

        shogun = db.session.execute(select(DeviceModel).where(DeviceModel.model == "Shogun 7")).scalars().all()
        assert len(shogun) == 1 and shogun[0].category.code == "encoder"
        assert len(db.session.execute(select(DeviceModel).where(DeviceModel.model == "Ninja V")).scalars().all()) == 1
    assert {d["model"] for d in client.get("/api/v1/devices?q=ZC-NEW").get_json()["items"]} == {
        "Atomos Ninja V", "Atomos Shogun 7"}


def test_only_customer_service_and_supervisors_edit_the_register(app, staff):
    assert signed_client(app, "li").post("/api/v1/devices", json=DEVICE).status_code == 403
    assert app.test_client().post("/api/v1/devices", json=DEVICE).status_code == 401
    assert _devices(app) == []


def test_the_history_lists_every_request_newest_first_with_fault_counts(app, staff):
    desk = signed_client(app, "desk")
    assert desk.post("/api/v1/devices", json=DEVICE).status_code == 201
    numbers = []
    for by in ("ZC-ENC-0001", "mw2301a77", "ZC-ENC-0001", "ZC-ENC-0001"):  # asset or serial, any case
        response = desk.post("/api/v1/requests", json={**REQUEST, "asset_number": by})
        assert response.status_code == 201, response.get_json()
        numbers.append(response.get_json()["number"])
    other = desk.post("/api/v1/requests", json={**REQUEST, "device_model": "Teradek Vidiu X"})
    assert other.status_code == 201
    now = utcnow()
    with app.app_context():  # spread them over the year: 10, 60, 200 and 400 days ago
        for number, days in zip(numbers, (400, 200, 60, 10), strict=True):
            db.session.execute(update(Ticket).where(Ticket.number == number)
                               .values(reported_at=now - timedelta(days=days)))
        db.session.commit()
    data = desk.get("/api/v1/devices/ZC-ENC-0001").get_json()
    assert [entry["number"] for entry in data["history"]] == numbers[::-1]
    assert data["faults"] == {"30d": 1, "90d": 2, "365d": 3} and data["requests_total"] == 4
    request = desk.get(f"/api/v1/requests/{numbers[0]}").get_json()
    assert request["device"]["asset_number"] == "ZC-ENC-0001"
    assert request["device_model"] == DEVICE["model"] and request["serial_number"] == DEVICE["serial_number"]
    assert desk.get(f"/api/v1/requests/{other.get_json()['number']}").get_json()["device"]["asset_number"] is None
    board = desk.get("/dispatch/board?q=enc-0001").get_data(as_text=True)  # the board finds them by asset number
    assert all(number in board for number in numbers) and other.get_json()["number"] not in board
    page = signed_client(app, "li").get("/devices/ZC-ENC-0001").get_data(as_text=True)
    assert 'data-window="30">1<' in page and 'data-window="90">2<' in page and 'data-window="365">3<' in page
    assert all(number in page for number in numbers)
    unknown = desk.post("/api/v1/requests", json={**REQUEST, "asset_number": "ZC-NOPE"})
    assert unknown.status_code == 422 and "device_ref" in unknown.get_json()["error"]["fields"]
    assert desk.get("/api/v1/devices/ZC-NOPE").status_code == 404
    assert desk.get("/api/v1/devices/%00").status_code == 404


def _csv_file(tmp_path, text: str, encoding: str):
    path = tmp_path / "devices.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_the_command_imports_a_gbk_file(app, staff, runner, tmp_path):
    text = CSV_HEADER + ("ZC-CAM-0001,SN-A1,Sony PXW-Z190,在租,星光传媒,2026-11-01\r\n"
                         "ZC-CAM-0002,SN-A2,Sony PXW-Z190,在库,,\r\n"
                         "ZC-MIX-0001,,Yamaha MG10XU,维修中,,\r\n")
    result = runner.invoke(args=["devices", "import", str(_csv_file(tmp_path, text, "gbk"))])
    assert result.exit_code == 0, result.output
    assert "imported 3 devices" in result.output
    with app.app_context():
        rented = db.session.execute(select(Device).where(Device.asset_number == "ZC-CAM-0001")).scalar_one()
        assert rented.state.value == "rented" and rented.customer.name == "星光传媒"
        assert rented.rented_since.date().isoformat() in ("2026-10-31", "2026-11-01")


def test_a_bad_row_imports_nothing_and_names_its_line(app, staff, runner, tmp_path):
    text = CSV_HEADER + ("ZC-CAM-0001,SN-A1,Sony PXW-Z190,在库,,\r\n"
                         "ZC-CAM-0002,SN-A1,Sony PXW-Z190,在库,,\r\n"   # the serial of line 2 again
                         "ZC-CAM-0003,SN-A3,Acme3000,在库,,\r\n"         # no brand: not a catalog model
                         "ZC-CAM-0004,SN-A4,Sony PXW-Z190,在租,,\r\n")   # rented to nobody
    result = runner.invoke(args=["devices", "import", str(_csv_file(tmp_path, "\ufeff" + text, "utf-8"))])
    assert result.exit_code != 0
    assert "line 3: serial_number" in result.output and "line 4: model" in result.output
    assert "line 5: customer" in result.output and "nothing was imported" in result.output
    assert _devices(app) == []


def test_a_bad_header_refuses_the_whole_file(app, staff, runner, tmp_path):
    no_asset = _csv_file(tmp_path, "编号,型号\r\nZC-1,Sony PXW-Z190\r\n", "gbk")
    result = runner.invoke(args=["devices", "import", str(no_asset)])
    assert result.exit_code != 0 and ("Nothing was imported" in result.output or "未导入任何数据" in result.output)
    mapped = runner.invoke(args=["devices", "import", str(no_asset), "--map", "asset_number=编号"])
    assert mapped.exit_code == 0, mapped.output
    twice = _csv_file(tmp_path, "资产编号,资产编号,型号\r\nA,B,Sony PXW-Z190\r\n", "utf-8")
    assert runner.invoke(args=["devices", "import", str(twice)]).exit_code != 0
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x00\xff\xfe" * 100)
    assert runner.invoke(args=["devices", "import", str(binary)]).exit_code != 0
    assert _devices(app) == ["ZC-1"]


def test_the_import_page_maps_columns_and_imports_all_or_nothing(app, staff):
    from io import BytesIO

    client = signed_client(app, "desk")
    assert client.get("/devices/import").status_code == 200
    text = "Asset,SN,Kind of device\r\nZC-L-1,L1,Godox SL-60W\r\nZC-L-2,L2,SL99\r\n"
    shown = client.post("/devices/import", data={
                                                 "file": (BytesIO(text.encode("gbk")), "export.csv")},
                        content_type="multipart/form-data")
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert 'name="column_model"' in html and "Kind of device" in html
    sha = html.split('name="file_sha" value="', 1)[1].split('"', 1)[0]
    mapping = {"file_sha": sha, "column_asset_number": "0", "column_serial_number": "1", "column_model": "2"}
    refused = client.post("/devices/import", data=mapping)
    assert refused.status_code == 400
    assert "Line 3" in refused.get_data(as_text=True) or "第 3 行" in refused.get_data(as_text=True)
    assert _devices(app) == []
    fixed = "Asset,SN,Kind of device\r\nZC-L-1,L1,Godox SL-60W\r\nZC-L-2,L2,Aputure LS 300d II\r\n"
    shown = client.post("/devices/import", data={"file": (BytesIO(fixed.encode()), "export.csv")},
                        content_type="multipart/form-data")
    sha = shown.get_data(as_text=True).split('name="file_sha" value="', 1)[1].split('"', 1)[0]
    done = client.post("/devices/import", data={**mapping, "file_sha": sha})
    assert done.status_code == 302
    assert _devices(app) == ["ZC-L-1", "ZC-L-2"]
    assert signed_client(app, "li").get("/devices/import").status_code == 403


def test_the_export_reads_back_through_the_import(app, staff, runner, tmp_path):
    client = signed_client(app, "boss")
    client.post("/api/v1/devices", json={**DEVICE, "state": "rented", "customer": "=HYPERLINK(\"x\")",
                                         "rented_since": "2026-11-01"})
    exported = client.get("/devices/export.csv")
    assert exported.status_code == 200 and exported.data.startswith(b"\xef\xbb\xbf")
    text = exported.data.decode("utf-8-sig")
    assert "ZC-ENC-0001" in text and "'=HYPERLINK" in text  # a formula never runs in Excel
    assert "2026-11-01" in text  # the date as given (Shanghai), not the UTC day before
    from domain.devices import transfer

    table = transfer.read_table(exported.data)
    assert set(transfer.guess_mapping(table.header)) == set(transfer.FIELDS)
