//! Moderation commands: delete, timeout, ban, unban, add/remove moderator.

use std::fmt::Display;

use futures_util::{Sink, Stream};
use streamly_core::domain::{ChatEvent, UserId};
use time::OffsetDateTime;

use super::{Conn, Flow};
use crate::frame::Frame;
use crate::moderation::ModerationError;
use crate::protocol::{ClientFrame, ErrorCode, MAX_TIMEOUT_SECS, Role, ServerFrame};

impl<T, E, Io> Conn<'_, T, Io>
where
    T: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin + Send,
    <T as Sink<Frame>>::Error: Display,
    E: Display,
    Io: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    /// Carries out a moderation command, answering `ack` or `error`.
    pub(super) async fn on_command(&mut self, frame: ClientFrame) -> Flow {
        let (action, target, owner_only) = match &frame {
            ClientFrame::Delete { .. } => ("delete", None, false),
            ClientFrame::Timeout { user, .. } => ("timeout", Some(*user), false),
            ClientFrame::Ban { user } => ("ban", Some(*user), false),
            ClientFrame::Unban { user } => ("unban", Some(*user), false),
            ClientFrame::AddModerator { user } => ("add_moderator", Some(*user), true),
            ClientFrame::RemoveModerator { user } => ("remove_moderator", Some(*user), true),
            _ => return self.error(ErrorCode::BadRequest, "unsupported frame", None).await,
        };
        if self.author.is_none() {
            return self
                .error(ErrorCode::Unauthorized, "sign in to moderate", None)
                .await;
        }
        // Re-checked on every command: a moderator removed (or an owner
        // changed) since this client joined must lose the right at once.
        let hub = crate::hub::ChatHub {
            inner: std::sync::Arc::clone(self.hub),
        };
        match hub.role(&self.room, self.author.as_ref()).await {
            Ok(role) => self.role = role,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "room authority or moderation store unavailable");
                return self
                    .error(ErrorCode::Unavailable, "moderation store unavailable", None)
                    .await;
            }
        }
        let allowed = if owner_only {
            self.role == Role::Owner
        } else {
            self.role.can_moderate()
        };
        if !allowed {
            return self
                .error(ErrorCode::Forbidden, "you may not moderate this room", None)
                .await;
        }
        if let Some(target) = target
            && let Some(flow) = self.check_target(target).await
        {
            return flow;
        }
        match self.apply(frame).await {
            Ok(Ok(())) => self.send_ack(action).await,
            Ok(Err(message)) => self.error(ErrorCode::InvalidArgument, message, None).await,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, action, "moderation failed");
                self.error(
                    ErrorCode::Unavailable,
                    "moderation store or bus unavailable",
                    None,
                )
                .await
            }
        }
    }

    /// Refuses commands aimed at the owner (nobody moderates the owner).
    async fn check_target(&mut self, target: UserId) -> Option<Flow> {
        match self.hub.authority.owner(&self.room).await {
            Ok(Some(owner)) if owner == target => Some(
                self.error(ErrorCode::Forbidden, "the room owner cannot be moderated", None)
                    .await,
            ),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "room authority unavailable");
                Some(
                    self.error(ErrorCode::Unavailable, "room authority unavailable", None)
                        .await,
                )
            }
        }
    }

    async fn send_ack(&mut self, action: &str) -> Flow {
        self.send(Frame::text(ServerFrame::Ack { action }.to_json()))
            .await
    }

    /// `Ok(Err(msg))`: the arguments were refused.
    async fn apply(
        &mut self,
        frame: ClientFrame,
    ) -> Result<Result<(), &'static str>, Box<dyn Display + Send>> {
        let hub = self.hub;
        let room = &self.room;
        let store = &hub.moderation;
        let boxed = |e: ModerationError| -> Box<dyn Display + Send> { Box::new(e) };
        match frame {
            ClientFrame::Delete { id } => {
                hub.bus
                    .publish(room, ChatEvent::Deleted { id })
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn Display + Send>)?;
            }
            ClientFrame::Timeout { user, seconds } => {
                if seconds == 0 || seconds > MAX_TIMEOUT_SECS {
                    return Ok(Err("seconds must be between 1 and 604800"));
                }
                let secs = i64::try_from(seconds).unwrap_or(i64::MAX);
                let until = OffsetDateTime::now_utc() + time::Duration::seconds(secs);
                store.timeout(room, user, until).await.map_err(boxed)?;
                self.announce(user, Some(until)).await;
            }
            ClientFrame::Ban { user } => {
                store.ban(room, user).await.map_err(boxed)?;
                self.announce(user, None).await;
            }
            ClientFrame::Unban { user } => store.lift(room, user).await.map_err(boxed)?,
            ClientFrame::AddModerator { user } => store.add_moderator(room, user).await.map_err(boxed)?,
            ClientFrame::RemoveModerator { user } => {
                store.remove_moderator(room, user).await.map_err(boxed)?
            }
            _ => return Ok(Err("unsupported command")),
        }
        Ok(Ok(()))
    }

    /// Tells every node that `user` was silenced, so their live connections
    /// react (a ban disconnects). The store already holds the decision, so a
    /// failure here only delays the effect to the user's next send.
    async fn announce(&mut self, user: UserId, until: Option<OffsetDateTime>) {
        let event = ChatEvent::UserSilenced { user, until };
        if let Err(e) = self.hub.bus.publish(&self.room, event).await {
            tracing::warn!(room = %self.room, error = %e, "could not announce a silenced user");
        }
    }
}
