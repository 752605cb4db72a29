from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from domain import accounts
from domain.enums import Role
from domain.errors import DomainError
from domain.models import User
from extensions import db

from ..access import roles_required
from . import bp
from .forms import EmptyForm, NewUserForm, ResetPasswordForm, UserDetailsForm


@bp.get("/users")
@roles_required(Role.ADMIN)
def users():
    role = request.args.get("role")
    query = select(User).order_by(User.active.desc(), User.role, User.username)
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    people = db.session.execute(query).scalars().all()
    return render_template("admin/users.html", users=people, role_filter=role, form=EmptyForm())


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_user():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                form.username.data, form.password.data, form.role.data,
                display_name=form.display_name.data, is_admin=form.is_admin.data,
                phone=form.phone.data, actor=current_user,
            )
        except DomainError as error:
            db.session.rollback()
            form.username.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Account %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_new.html", form=form), 400 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_user(user_id: int):
    user = accounts.get_user(user_id)
    form = UserDetailsForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.role.data = user.role.value
    if form.validate_on_submit():
        try:
            accounts.update_user(user, display_name=form.display_name.data, role=form.role.data,
                                 is_admin=form.is_admin.data, phone=form.phone.data, actor=current_user)
        except DomainError as error:
            db.session.rollback()
            form.role.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Changes saved."), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_edit.html", user=user, form=form, reset_form=ResetPasswordForm(),
                           toggle_form=EmptyForm()), 400 if form.errors else 200


@bp.post("/users/<int:user_id>/active")
@roles_required(Role.ADMIN)
def set_active(user_id: int):
    user = accounts.get_user(user_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    activate = request.form.get("active") == "1"
    try:
        accounts.set_active(user, activate, actor=current_user)
    except DomainError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    else:
        db.session.commit()
        if activate:
            flash(_("%(name)s can sign in again.", name=user.username), "success")
        else:
            flash(_("%(name)s has been deactivated and signed out everywhere.", name=user.username), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@roles_required(Role.ADMIN)
def reset_password(user_id: int):
    user = accounts.get_user(user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        accounts.reset_password(user, form.password.data, actor=current_user)
        db.session.commit()
        flash(_("New password set for %(name)s; their other sessions have ended.", name=user.username),
              "success")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    details = UserDetailsForm(obj=user)
    details.role.data = user.role.value
    return render_template("admin/user_edit.html", user=user, form=details, reset_form=form,
                           toggle_form=EmptyForm()), 400
