"""The knowledge base: articles (rules, revisions, roles), Chinese search, case analysis -> FAQ article, the fault
list, and the printable FAQ manual checked with poppler."""
from __future__ import annotations

import re
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.core import context
from domain.core.db import db
from domain.core.enums import ArticleStatus, ClockName, ClockState, Role
from domain.core.errors import DomainError, Forbidden, ValidationError
from domain.core.models import AuditEvent, User
from domain.documents import review
from domain.knowledge import kb
from domain.knowledge import tasks as knowledge_tasks
from domain.knowledge.models import KbArticle
from domain.requests import access
from domain.requests.catalog import ensure_catalog
from domain.requests.models import DeviceModel, FaultCategory
from domain.sla.clocks import ticket_clocks

from .helpers import PASSWORD, ZH
from .orderfactory import SHANGHAI, make_signed_order

EN = {"Accept-Language": "en"}


def ctx_for(user_id: int, now=None) -> context.Context:
    return context.Context(actor=db.session.get(User, user_id), tz=SHANGHAI, **({"now": now} if now else {}))


def model(brand: str, name: str) -> DeviceModel:
    return db.session.execute(select(DeviceModel).where(DeviceModel.brand == brand, DeviceModel.model == name)
                              ).scalar_one()


def fault(category_id: int, code: str) -> FaultCategory:
    return db.session.execute(select(FaultCategory).where(FaultCategory.device_category_id == category_id,
                                                          FaultCategory.code == code)).scalar_one()


def write(expert_id: int, title: str, symptoms: str, solution: str, *, device=("Sony", "PXW-Z190"),
          fault_code: str | None = None, publish: bool = True, precautions: str = "") -> KbArticle:
    device_model = model(*device)
    data = kb.ArticleInput(title=title, device_model_id=device_model.id, symptoms=symptoms, solution=solution,
                           precautions=precautions,
                           fault_category_id=fault(device_model.category_id, fault_code).id if fault_code else None)
    return kb.save_article(ctx_for(expert_id), None, data, publish=publish)


@pytest.fixture
def expert(app, make_user):
    user_id, username = make_user(Role.EXPERT)
    with app.app_context():
        ensure_catalog()
        db.session.commit()
    return user_id, username


def client_as(app, username: str):
    client = app.test_client()
    assert client.post("/auth/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


# --- articles ---------------------------------------------------------------------------------------------


def test_an_article_needs_a_device_model_and_its_texts(app, expert):
    with app.app_context():
        with pytest.raises(ValidationError) as raised:
            kb.save_article(ctx_for(expert[0]), None, kb.ArticleInput(title=" ", symptoms="", solution=""))
        assert set(raised.value.fields) == {"title", "symptoms", "solution", "device_model_id"}
        camera = model("Sony", "PXW-Z190")
        mixer_fault = fault(model("Yamaha", "MG10XU").category_id, "noise")
        with pytest.raises(ValidationError) as raised:
            kb.save_article(ctx_for(expert[0]), None, kb.ArticleInput(
                title="t", device_model_id=camera.id, fault_category_id=mixer_fault.id, symptoms="s", solution="x",
                sources="FS-2026-999999 nonsense"))
        assert set(raised.value.fields) == {"fault_category_id", "sources"}
        assert db.session.execute(select(KbArticle)).first() is None


def test_revisions_count_real_changes_and_are_audited(app, expert):
    with app.app_context():
        article = write(expert[0], "对焦异常", "画面模糊", "重新校准对焦", fault_code="focus")
        assert (article.revision, article.status) == (1, ArticleStatus.PUBLISHED)
        same = kb.ArticleInput(title="对焦异常", device_model_id=article.device_model_id,
                               fault_category_id=article.fault_category_id, symptoms="画面模糊",
                               solution="重新校准对焦")
        kb.save_article(ctx_for(expert[0]), article, same)
        assert article.revision == 1  # saving without a change is not a new revision
        same.solution = "重新校准对焦，并清洁镜头"
        kb.save_article(ctx_for(expert[0]), article, same)
        db.session.commit()
        assert article.revision == 2 and article.updated_by.id == expert[0]
        actions = db.session.execute(select(AuditEvent.action).where(AuditEvent.entity_type == "KbArticle")
                                     ).scalars().all()
        assert actions.count("kb.article_created") == 1 and actions.count("kb.article_updated") == 2


def test_only_experts_and_supervisors_edit(app, expert, make_user):
    tech_id, tech_name = make_user(Role.TECHNICIAN)
    with app.app_context():
        with pytest.raises(Forbidden):
            write(tech_id, "t", "s", "x")
        article_id = write(expert[0], "对焦异常", "画面模糊", "重新校准").id
        db.session.commit()
    tech = client_as(app, tech_name)
    assert tech.get(f"/kb/articles/{article_id}").status_code == 200
    assert tech.get(f"/kb/articles/{article_id}/edit").status_code == 403
    assert tech.post("/kb/articles/new", data={"title": "x"}).status_code == 403


def test_drafts_are_hidden_from_readers(app, expert, make_user):
    _, tech_name = make_user(Role.TECHNICIAN)
    with app.app_context():
        draft_id = write(expert[0], "草稿：镜头起雾", "镜头内部起雾", "静置除湿", publish=False).id
        db.session.commit()
    tech, editor = client_as(app, tech_name), client_as(app, expert[1])
    assert tech.get(f"/kb/articles/{draft_id}").status_code == 404
    assert "草稿：镜头起雾" not in tech.get("/kb/?q=起雾").get_data(as_text=True)
    assert "草稿：镜头起雾" in editor.get("/kb/?q=起雾").get_data(as_text=True)


def test_the_article_form_shows_errors_in_chinese_and_keeps_the_input(app, expert):
    editor = client_as(app, expert[1])
    response = editor.post("/kb/articles/new", data={"title": "切换台死机", "symptoms": "按键无反应",
                                                     "solution": "", "device_model_id": ""}, headers=ZH)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请选择文章对应的设备型号。" in page and "请描述解决方法。" in page and "切换台死机" in page
    with app.app_context():
        switcher = model("Blackmagic", "ATEM Mini Pro ISO")
        switcher_id, fault_id = switcher.id, fault(switcher.category_id, "stream_fail").id
    response = editor.post("/kb/articles/new", data={
        "title": "切换台推流失败", "symptoms": "推流中断", "solution": "降低码率", "device_model_id": switcher_id,
        "fault_category_id": fault_id, "publish": "1"}, headers=ZH)
    assert response.status_code == 302
    page = editor.get(response.headers["Location"], headers=ZH).get_data(as_text=True)
    assert "切换台推流失败" in page and "降低码率" in page and "推流失败" in page


# --- search ----------------------------------------------------------------------------------------------


@pytest.fixture
def library(app, expert):
    with app.app_context():
        write(expert[0], "摄像机无视频输出", "摄像机开机后黑屏，监视器无信号", "检查 SDI 输出设置",
              fault_code="no_signal")
        write(expert[0], "ATEM 推流中断", "推流几秒后停止", "降低码率到 6 Mbps，检查推流密钥",
              device=("Blackmagic", "ATEM Mini Pro ISO"), fault_code="stream_fail")
        write(expert[0], "调音台底噪", "有电流声 100% 存在", "使用平衡线，排除接地环路", device=("Yamaha", "MG10XU"),
              fault_code="noise")
        db.session.commit()


def titles(query: kb.SearchQuery) -> list[str]:
    return [a.title for a in kb.search_articles(query)[0]]


@pytest.mark.parametrize(("text", "expected"), [
    ("推流", ["ATEM 推流中断"]),                 # a Chinese substring, no spaces anywhere
    ("黑屏", ["摄像机无视频输出"]),
    ("摄像机黑屏", ["摄像机无视频输出"]),         # not a substring: most of its character pairs are there
    ("atem", ["ATEM 推流中断"]),                 # case-insensitive Latin
    ("Blackmagic 密钥", ["ATEM 推流中断"]),      # the model's brand counts, every word must match
    ("底噪/电流声", ["调音台底噪"]),             # the fault type's name counts, punctuation splits words
    ("打印机卡纸", []),
    ("100%", ["调音台底噪"]),                    # LIKE wildcards in the query are plain characters
    ("_", []),
])
def test_chinese_search(app, library, text, expected):
    with app.app_context():
        assert titles(kb.SearchQuery(text=text)) == expected


def test_search_ranks_title_matches_first_and_filters(app, library, expert):
    with app.app_context():
        write(expert[0], "SDI 线缆检查", "偶发无视频", "更换线缆")  # newer, but the word is not in its title
        db.session.commit()
        assert titles(kb.SearchQuery(text="无视频")) == ["摄像机无视频输出", "SDI 线缆检查"]
        switcher = model("Blackmagic", "ATEM Mini Pro ISO")
        assert titles(kb.SearchQuery(device_model_id=switcher.id)) == ["ATEM 推流中断"]
        assert titles(kb.SearchQuery(device_category_id=switcher.category_id, text="黑屏")) == []
        assert kb.search_articles(kb.SearchQuery())[1] == 4


def approved_order(make_user, *, check=None) -> dict:
    """A signed order written up (fault type "input lost", new to the team), submitted and approved; `check` runs
    between submission and approval. Inside an app context."""
    made = make_signed_order(make_user, photos=0)
    ticket = access.get_ticket(made["number"])
    tech, boss = ctx_for(made["ids"]["tech"]), ctx_for(made["ids"]["boss"])
    review.save_internal_fields(ticket, tech, fault_category_id=fault(ticket.device_category_id, "input_loss").id,
                                root_cause="SDI 接头氧化", solution_summary="更换 SDI 线缆", parts_used="")
    review.submit(ticket, tech)
    if check:
        check()
    review.review(ticket, boss, approve=True, comment="")
    db.session.commit()
    return made


def test_approved_orders_are_searchable_without_the_customer(app, make_user, expert):
    def not_yet():
        assert kb.search_orders("接头氧化") == []  # submitted, not approved yet

    with app.app_context():
        made = approved_order(make_user, check=not_yet)
        assert [t.number for t in kb.search_orders("接头氧化")] == [made["number"]]
    page = client_as(app, expert[1]).get("/kb/?q=接头氧化", headers=ZH).get_data(as_text=True)
    assert made["number"] in page and "SDI 接头氧化" in page and "鲸鱼电竞俱乐部" not in page


# --- case analysis -> FAQ article ------------------------------------------------------------------------


@pytest.fixture
def analysed(app, make_user):
    """An approved order of a fault type seen for the first time: its case analysis is open."""
    with app.app_context():
        made = approved_order(make_user)
        assert access.get_ticket(made["number"]).case_analysis is not None
        return made


def test_the_case_analysis_form_publishes_an_article(app, analysed):
    number = analysed["number"]
    with app.app_context():
        expert_name = db.session.get(User, analysed["ids"]["expert"]).username
    editor = client_as(app, expert_name)
    assert number in editor.get("/kb/cases").get_data(as_text=True)
    form = editor.get(f"/kb/cases/{number}", headers=ZH).get_data(as_text=True)
    assert "SDI 接头氧化" in form  # the technician's write-up is the starting point
    response = editor.post(f"/kb/cases/{number}", data={"summary": "", "root_cause": "x", "fix": "", "prevention": "",
                                                         "article_title": "", "symptoms": "s"}, headers=ZH)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "此项必填。" in page and "请填写文章标题。" in page
    with app.app_context():
        device_model_id = access.get_ticket(number).device_model_id
    response = editor.post(f"/kb/cases/{number}", data={
        "summary": "比赛现场切换台两路输入丢失", "root_cause": "SDI 接头氧化导致接触不良",
        "fix": "更换 SDI 线缆并清洁接口", "prevention": "每次出库前检查 SDI 接头", "article_title": "ATEM 输入源丢失",
        "symptoms": "PGM 画面卡住",
        "device_model_id": device_model_id, "article_id": ""})
    assert response.status_code == 302
    with app.app_context():
        ticket = access.get_ticket(number)
        article = ticket.case_analysis.article
        assert (article.title, article.solution, article.precautions) == (
            "ATEM 输入源丢失", "更换 SDI 线缆并清洁接口", "每次出库前检查 SDI 接头")
        assert article.status == ArticleStatus.PUBLISHED and [t.number for t in article.sources] == [number]
        assert article.fault_category_id == ticket.fault_category_id
        clock = {c.name: c for c in ticket_clocks(ticket, ticket.case_analysis.completed_at)}
        assert clock[ClockName.CASE_ANALYSIS].state == ClockState.MET
        article_id = article.id
    page = editor.get(f"/kb/articles/{article_id}", headers=ZH).get_data(as_text=True)
    assert "SDI 接头氧化导致接触不良" in page  # the root cause shows on the article
    again = editor.post(f"/kb/cases/{number}", data={"summary": "a", "root_cause": "b", "fix": "c", "prevention": "d",
                                                      "article_title": "t", "symptoms": "s",
                                                      "device_model_id": device_model_id}, headers=ZH)
    assert again.status_code == 302  # refused with a message: already complete
    assert "已完成" in editor.get("/kb/cases", headers=ZH).get_data(as_text=True)


def test_a_case_analysis_updates_an_existing_article_as_a_new_revision(app, analysed):
    with app.app_context():
        ticket = access.get_ticket(analysed["number"])
        existing = write(analysed["ids"]["expert"], "ATEM 输入源丢失", "输入丢失", "重新插拔",
                         device=("Blackmagic", "ATEM Mini Pro ISO"), fault_code="input_loss")
        assert existing in kb.candidate_articles(ticket)
        article = kb.complete_analysis_with_article(
            ticket, ctx_for(analysed["ids"]["boss"]), summary="s", root_cause="r", fix="更换线缆",
            prevention="出库检查",
            title=existing.title, device_model_id=existing.device_model_id, symptoms="输入丢失",
            article_id=existing.id)
        db.session.commit()
        assert article.id == existing.id and article.revision == 2 and article.solution == "更换线缆"
        assert ticket in article.sources
        with pytest.raises(DomainError) as raised:
            kb.complete_analysis_with_article(
                ticket, ctx_for(analysed["ids"]["boss"]), summary="s", root_cause="r", fix="f", prevention="p",
                title="t", device_model_id=existing.device_model_id, symptoms="s", article_id=None)
        assert raised.value.code == "analysis_done"


def test_a_technician_cannot_complete_a_case_analysis(app, analysed):
    with app.app_context():
        ticket = access.get_ticket(analysed["number"])
        with pytest.raises(Forbidden):
            kb.complete_analysis_with_article(
                ticket, ctx_for(analysed["ids"]["tech"]), summary="s", root_cause="r", fix="f", prevention="p",
                title="t", device_model_id=ticket.device_model_id, symptoms="s", article_id=None)


# --- fault categories ---------------------------------------------------------------------------------------


def test_fault_categories_are_a_managed_list(app, expert):
    editor = client_as(app, expert[1])
    with app.app_context():
        camera = model("Sony", "PXW-Z190").category_id
    assert editor.post("/kb/faults", data={"device_category_id": camera, "name_zh": "", "name_en": ""},
                       headers=ZH).status_code == 422
    assert editor.post("/kb/faults", data={"device_category_id": camera, "name_zh": "镜头起雾",
                                           "name_en": "Lens fogging"}).status_code == 302
    duplicate = editor.post("/kb/faults", data={"device_category_id": camera, "name_zh": "镜头起雾"}, headers=ZH)
    assert duplicate.status_code == 422 and "已有同名" in duplicate.get_data(as_text=True)
    with app.app_context():
        fogging = db.session.execute(select(FaultCategory).where(FaultCategory.name_zh == "镜头起雾")).scalar_one()
        assert fogging.code == "lens_fogging" and fogging.active
        fogging_id = fogging.id
    editor.post(f"/kb/faults/{fogging_id}", data={"name_zh": "镜头起雾", "name_en": "Lens fog"})  # unticked: retired
    with app.app_context():
        fogging = db.session.get(FaultCategory, fogging_id)
        assert (fogging.name_en, fogging.active) == ("Lens fog", False)


# --- the manual -------------------------------------------------------------------------------------------


def pdf_tool(tool: str, path, *args) -> str:
    return subprocess.run([tool, *args, str(path)] + (["-"] if tool == "pdftotext" else []), check=True,
                          capture_output=True, text=True).stdout


def manual(client, headers, **form):
    """Ask for the manual (the worker builds it, at once in tests) and download it from its page."""
    started = client.post("/kb/manuals", data=form, headers=headers)
    assert started.status_code == 302
    page = client.get(started.headers["Location"], headers=headers).get_data(as_text=True)
    assert "<progress" not in page and ".pdf" in page
    return client.get(started.headers["Location"] + ".pdf", headers=headers)


def test_the_faq_manual_pdf(app, library, expert, tmp_path):
    response = manual(client_as(app, expert[1]), ZH)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="faq-manual.pdf"'
    path = tmp_path / "manual.pdf"
    path.write_bytes(response.data)
    text = pdf_tool("pdftotext", path, "-layout")
    for expected in ("常见问题解决方案手册", "目录", "摄像机无视频输出", "检查 SDI 输出设置", "ATEM 推流中断", "调音台",
                     "页码"):
        assert expected in text, expected
    # The contents give each article's page: the camera article starts on page 3 (cover, contents).
    assert any("摄像机无视频输出" in line and line.rstrip().endswith("3") for line in text.splitlines())
    # Three short articles of three kinds of device follow one another on one page: a page forced per kind left
    # the demo's five articles on seven pages, each mostly blank (cover, contents, then one page).
    assert re.search(r"^Pages:\s+3$", pdf_tool("pdfinfo", path), re.M)
    body = text.split("\f")[2]
    assert all(title in body for title in ("摄像机无视频输出", "ATEM 推流中断", "调音台底噪"))
    fonts = pdf_tool("pdffonts", path)
    assert "NotoSansCJK" in fonts.replace(" ", "").replace("-", "") or "Noto-Sans-CJK-SC" in fonts
    assert "JP" not in fonts and "emb" in fonts.splitlines()[0]
    assert all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])  # every font embedded


def test_the_manual_for_one_kind_of_device_in_english(app, library, expert, tmp_path):
    with app.app_context():
        camera = model("Sony", "PXW-Z190").category_id
    response = manual(client_as(app, expert[1]), EN, category=camera)
    path = tmp_path / "camera.pdf"
    path.write_bytes(response.data)
    text = pdf_tool("pdftotext", path)
    assert "FAQ manual" in text and "摄像机无视频输出" in text and "ATEM 推流中断" not in text


def test_an_empty_manual_says_so(app, expert, tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(manual(client_as(app, expert[1]), ZH).data)
    assert "暂无已发布的文章" in pdf_tool("pdftotext", path)


def test_the_manual_is_built_by_the_worker_and_a_repeated_request_joins_the_pending_one(make_app, make_user,
                                                                                     tmp_path):
    import worker

    app = make_app(HUEY_IMMEDIATE=False)  # queued: the page shows progress until the worker has built it
    _, tech_name = make_user(Role.TECHNICIAN)
    with app.app_context():
        ensure_catalog()
        db.session.commit()
        camera = model("Sony", "PXW-Z190").category_id
    tech = client_as(app, tech_name)
    first = tech.post("/kb/manuals", data={}, headers=ZH).headers["Location"]
    page = tech.get(first, headers=ZH).get_data(as_text=True)
    assert "<progress" in page and 'http-equiv="refresh"' in page
    assert tech.get(first + ".pdf").status_code == 404  # not built yet
    # The same selection while it is pending: the same job; another kind of device or language: another.
    assert tech.post("/kb/manuals", data={}, headers=ZH).headers["Location"] == first
    camera_job = tech.post("/kb/manuals", data={"category": camera}, headers=ZH).headers["Location"]
    english_job = tech.post("/kb/manuals", data={}, headers=EN).headers["Location"]
    assert len({first, camera_job, english_job}) == 3
    with app.app_context():
        job_id = int(first.rsplit("/", 1)[1])
        env = worker.task_env(app)
        assert knowledge_tasks.build_manual_pdf(job_id, env) == "done"
        assert knowledge_tasks.build_manual_pdf(job_id, env) == "nothing"  # a task run twice builds it once
        from domain.knowledge.models import ManualJob

        assert db.session.get(ManualJob, job_id).state == "done"
    assert "<progress" not in tech.get(first, headers=ZH).get_data(as_text=True)
    path = tmp_path / "manual.pdf"
    path.write_bytes(tech.get(first + ".pdf").data)
    assert "常见问题解决方案手册" in pdf_tool("pdftotext", path)
    # Once built, the same selection gets the same PDF while nothing in it changed; a new article makes a new one.
    assert tech.post("/kb/manuals", data={}, headers=ZH).headers["Location"] == first
    expert_id, _ = make_user(Role.EXPERT)
    with app.app_context():
        write(expert_id, "摄像机无视频输出", "黑屏", "检查 SDI 输出设置")
        db.session.commit()
    assert tech.post("/kb/manuals", data={}, headers=ZH).headers["Location"] not in {first, camera_job, english_job}


def _manual_asked_for(make_app, make_user):
    """An app whose worker does not run, and the id of the manual a technician asked for there."""
    app = make_app(HUEY_IMMEDIATE=False)
    _, tech_name = make_user(Role.TECHNICIAN)
    location = client_as(app, tech_name).post("/kb/manuals", data={}, headers=ZH).headers["Location"]
    return app, int(location.rsplit("/", 1)[1])


def test_a_manual_whose_task_was_lost_is_queued_again_by_the_minute_tick(make_app, make_user, queued_tasks):
    import worker
    from domain.knowledge.models import ManualJob

    app, job_id = _manual_asked_for(make_app, make_user)
    queued_tasks.clear()  # what the tick queues, not the request's own task
    with app.app_context():
        created = db.session.get(ManualJob, job_id).created_at
        assert worker.tick(created + timedelta(minutes=2))["manuals"] == 0  # the worker may just be busy
        assert worker.tick(created + timedelta(minutes=11))["manuals"] == 1
    assert queued_tasks == [("build_manual", (job_id,))]


def test_demo_data_has_articles_for_the_field_app(app):
    with app.app_context():
        from operations.demo import seed_demo

        seed_demo(SHANGHAI)
        db.session.commit()
        assert kb.search_articles(kb.SearchQuery(text="推流"))[1] >= 1


def test_the_request_page_links_to_its_case_analysis_for_editors_only(app, analysed):
    number = analysed["number"]
    with app.app_context():
        boss = db.session.get(User, analysed["ids"]["boss"]).username
        tech = db.session.get(User, analysed["ids"]["tech"]).username
    assert f"/kb/cases/{number}" in client_as(app, boss).get(f"/dispatch/requests/{number}").get_data(as_text=True)
    assert f"/kb/cases/{number}" not in client_as(app, tech).get(f"/dispatch/requests/{number}").get_data(
        as_text=True)


def test_publish_and_archive_from_the_article_page(app, expert, make_user):
    _, tech_name = make_user(Role.TECHNICIAN)
    with app.app_context():
        article_id = write(expert[0], "镜头起雾", "镜头内部起雾", "静置除湿", publish=False).id
        db.session.commit()
    editor, tech = client_as(app, expert[1]), client_as(app, tech_name)
    assert editor.post(f"/kb/articles/{article_id}/status", data={"status": "bogus"}).status_code == 302
    assert tech.get(f"/kb/articles/{article_id}").status_code == 404  # still a draft
    editor.post(f"/kb/articles/{article_id}/status", data={"status": "published"})
    assert tech.get(f"/kb/articles/{article_id}").status_code == 200
    editor.post(f"/kb/articles/{article_id}/status", data={"status": "archived"})
    assert tech.get(f"/kb/articles/{article_id}").status_code == 404
    assert "镜头起雾" not in editor.get("/kb/?q=起雾").get_data(as_text=True)  # archived: out of the search too
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.to_state).where(AuditEvent.action == "kb.article_status")
                                     .order_by(AuditEvent.id)).scalars().all()
        assert actions == ["published", "archived"]


def test_a_manual_left_running_by_a_killed_worker_is_built_again_after_its_lease(make_app, make_user, queued_tasks):
    import worker
    from domain.knowledge.models import ManualJob

    app, job_id = _manual_asked_for(make_app, make_user)
    queued_tasks.clear()  # what the tick queues, not the request's own task
    with app.app_context():
        # A worker took it 15 minutes ago ... and was killed mid-render.
        start = db.session.get(ManualJob, job_id).created_at - timedelta(minutes=15)
        assert kb.claim_manual(job_id, start)
        db.session.commit()
        assert not kb.claim_manual(job_id, start + timedelta(minutes=1))  # held: no second builder
        db.session.rollback()
        assert worker.tick(start + timedelta(minutes=5))["manuals"] == 0
        assert worker.tick(start + timedelta(minutes=11))["manuals"] == 1  # past the lease
        assert queued_tasks == [("build_manual", (job_id,))]
    with app.app_context():
        # The next worker takes it over and builds it.
        assert knowledge_tasks.build_manual_pdf(job_id, worker.task_env(app)) == "done"
        job = db.session.get(ManualJob, job_id)
        assert job.state == "done" and job.pdf_sha256 and job.lease_until is None
